import sys

from pconv_studio.cli.main import main

sys.exit(main())
