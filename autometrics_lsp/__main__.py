import sys

from autometrics_lsp.cli import main

sys.exit(main())
