"""Browser routes of coding. Every route has a name (the cross-clinic matrix enumerates them)."""

from django.urls import path

from . import views

urlpatterns = [
    path("coding/calculator/", views.units_calculator, name="units-calculator"),
    path("coding/calculator/result/", views.units_calculator_result, name="units-calculator-result"),
    path("coding/queue/", views.coding_queue, name="coding-queue"),
    path("coding/visits/<uuid:public_id>/", views.visit_coding, name="visit-coding"),
    path("coding/visits/<uuid:public_id>/rescrub/", views.visit_rescrub, name="visit-rescrub"),
    path("coding/findings/<uuid:public_id>/fix/", views.finding_fix, name="finding-fix"),
    path("coding/findings/<uuid:public_id>/override/", views.finding_override, name="finding-override"),
]
