"""Models of the claims app arrive with its issue; the package and its place in the dependency order are fixed."""
