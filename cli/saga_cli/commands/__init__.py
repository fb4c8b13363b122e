"""The `saga` command line: the Typer app, its commands, what they print, and the console entry point."""
