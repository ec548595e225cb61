"""Settings package: `base` reads the environment, `dev`, `test` and `production` specialise it."""
