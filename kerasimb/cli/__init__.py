"""The `kerasimb` command (`kerasimb.cli.main.main`), one module per sub-command.

Nothing in the library imports this package: the commands call the library (`kerasimb.runs`,
`kerasimb.tuning`, `kerasimb.recipes`), never the other way round. Command modules import the
library inside the function that runs the command, so that `kerasimb --help` and `kerasimb
list` start without TensorFlow.
"""
