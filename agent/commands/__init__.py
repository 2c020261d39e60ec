"""One module per ``screenact`` subcommand: ``add_parser(subparsers)`` and the function it runs."""
