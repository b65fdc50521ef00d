"""Host code on the last SIP grows its memory by 1 MiB steps, with some work between them (a few per 20 ms of CPU,
how often the limit is looked at), until it runs out."""


def run(torch):
    hog = []
    if torch.current_device() == torch.topo.sip_count - 1:
        while True:
            hog.append(bytearray(1 << 20))
            sum(range(200_000))
    return {"checks": {"ran": True}}
