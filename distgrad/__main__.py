"""`python -m distgrad {demo,train,bench,info}`: see distgrad/cli/."""
from .cli import main

raise SystemExit(main())
