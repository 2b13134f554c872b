"""`python -m delivery`: run one delivery worker (the same as `callapi-events deliver`)."""

from delivery.cli import deliver_main

deliver_main()
