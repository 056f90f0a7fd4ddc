import sys

from coder_mock.cli import main

sys.exit(main())
