"""Host code raises an exception whose __str__ raises in turn."""


class Hostile(Exception):
    def __str__(self):
        raise RuntimeError("no message for you")


def run(_torch):
    raise Hostile()
