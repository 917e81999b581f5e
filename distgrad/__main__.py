"""`python -m distgrad {demo,train,bench,info}`: see distgrad/cli.py."""
from .cli import main

raise SystemExit(main())
