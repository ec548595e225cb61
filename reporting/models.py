"""Models of the reporting app arrive with its issue; the package and its place in the dependency order are fixed."""
