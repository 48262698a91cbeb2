import sys

from evotui.cli import main

sys.exit(main())
