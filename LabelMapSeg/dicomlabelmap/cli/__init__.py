"""The ``dicomlabelmap`` command line: ``main`` builds the parser from one module per subcommand
(its parser beside its run function); ``options`` and ``common`` hold what they share.
"""
