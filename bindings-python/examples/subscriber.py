"""A subscriber to copy (asyncio): prints every reading under a filter, with
its 5.0 properties, until interrupted (or after N messages).

    python examples/subscriber.py mqtt://localhost:1883 'greenhouse/#'
"""

import asyncio
import sys

import midge


async def main() -> None:
    url = sys.argv[1] if len(sys.argv) > 1 else "mqtt://localhost:1883"
    topic = sys.argv[2] if len(sys.argv) > 2 else "greenhouse/#"
    limit = int(sys.argv[3]) if len(sys.argv) > 3 else None
    async with midge.AsyncClient(url, client_id="greenhouse-dashboard") as client:
        messages = client.messages()  # made before subscribing: retained ones are not missed
        granted = await client.subscribe(topic, qos=1)
        print(f"subscribed to {topic}: {granted}", flush=True)
        seen = 0
        async for message in messages:
            print(f"{message.topic}: {message.payload.decode(errors='replace')}"
                  f"{' (retained)' if message.retain else ''}", flush=True)
            seen += 1
            if limit is not None and seen >= limit:
                break


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
