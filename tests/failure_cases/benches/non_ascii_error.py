"""Host code raises an error whose message is not ASCII."""


def run(_torch):
    raise ValueError("température trop élevée ✗")
