"""A sensor publisher to copy: reads a (simulated) temperature every second
and publishes it at QoS 1. Survives broker restarts (automatic reconnect;
readings taken while offline are queued and sent on reconnect) and process
crashes (the session lives in a file, so unacknowledged readings are resent).

    python examples/sensor_publisher.py mqtt://localhost:1883 greenhouse/1/temp
"""

import json
import random
import sys
import time

import midge


def read_temperature() -> float:
    return round(20 + random.uniform(-2, 2), 2)  # replace with your sensor


def main() -> None:
    url = sys.argv[1] if len(sys.argv) > 1 else "mqtt://localhost:1883"
    topic = sys.argv[2] if len(sys.argv) > 2 else "greenhouse/1/temp"
    count = int(sys.argv[3]) if len(sys.argv) > 3 else None  # None: forever
    client = midge.Client(
        url,
        client_id="greenhouse-sensor-1",
        clean_start=False,
        session_expiry=3600,                    # the broker keeps our session an hour
        session_store="greenhouse-sensor-1.session",  # QoS 1/2 state survives a crash
        will=midge.Will(f"{topic}/status", b"offline", qos=1, retain=True),
        reconnect_max_delay=30,
    )
    with client:
        client.publish(f"{topic}/status", b"online", qos=1, retain=True)
        n = 0
        while count is None or n < count:
            reading = {"celsius": read_temperature(), "at": time.time()}
            # wait=False: do not stall the sensor loop while offline; the
            # reading is queued and sent (in order) once connected.
            client.publish(topic, json.dumps(reading), qos=1, wait=False)
            print("published", reading, flush=True)
            n += 1
            if count is None or n < count:
                time.sleep(1.0)
        client.sync()
        client.publish(f"{topic}/status", b"offline", qos=1, retain=True)


if __name__ == "__main__":
    main()
