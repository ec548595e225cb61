"""The CSV helpers every worklist and dashboard export uses."""

from otbilling.web import csv_cell, csv_response


def test_text_a_spreadsheet_would_run_as_a_formula_is_quoted_and_numbers_stay_numbers():
    assert csv_cell("=HYPERLINK(\"x\")") == "'=HYPERLINK(\"x\")"
    assert csv_cell("@SUM(A1)") == "'@SUM(A1)" and csv_cell("-cmd") == "'-cmd" and csv_cell("+1+1") == "'+1+1"
    assert csv_cell("-12.50") == "-12.50" and csv_cell("+3") == "+3" and csv_cell(-7) == "-7"
    assert csv_cell(None) == "" and csv_cell("Zebulon, Anna") == "Zebulon, Anna"


def test_csv_response_is_an_attachment_with_its_file_name():
    response, writer = csv_response("claims-2026-10-01.csv")
    writer.writerow(["a", "b"])
    assert response["Content-Disposition"] == 'attachment; filename="claims-2026-10-01.csv"'
    assert response.content == b"a,b\r\n"
