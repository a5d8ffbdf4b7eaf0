"""``u2live batch``: many videos through ``u2live video``'s run, on local worker processes or a Ray cluster.

- :mod:`.plan`: which files, which outputs, which are already finished;
- :mod:`.worker`: one worker (model loaded once, files one after another), local process or Ray actor alike;
- :mod:`.local`: worker processes on this machine; :mod:`.cluster`: Ray actors.
"""
