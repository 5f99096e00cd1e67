import sys

from nas4cnn.cli import main

sys.exit(main())
