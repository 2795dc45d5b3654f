"""Stand-in for ``otter.test_files`` in the grading sandbox: the decorator changes nothing."""


def test_case(*args, **kwargs):
    if args and callable(args[0]) and not kwargs:
        return args[0]
    return lambda fn: fn
