#!/usr/bin/env bash
# Installs what the system tests (tests/, crate midge-system-tests) need and
# is missing: mosquitto, RabbitMQ and ActiveMQ (apt), aedes (npm, from the committed
# package-lock.json), amqtt (PyPI, in tests/.venv-amqtt), moquette and HiveMQ
# CE (Maven Central, pinned in tests/brokers/{moquette,hivemq}/pom.xml, built
# once into a classpath so that the test run needs no network; Java 17 and
# Maven). Cheap to repeat.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_missing=()
command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ] || apt_missing+=(mosquitto)
command -v mosquitto_passwd >/dev/null || apt_missing+=(mosquitto-clients mosquitto)
[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || apt_missing+=(rabbitmq-server)
command -v node >/dev/null || apt_missing+=(nodejs npm)
# ActiveMQ 5.17 (bookworm: 5.17.2+dfsg-2+deb12u1); its MQTT transport needs
# the codec of libmqtt-client-java (1.16-1), which it does not depend on.
[ -f /usr/share/activemq/bin/activemq.jar ] || apt_missing+=(activemq)
[ -f /usr/share/java/mqtt-client.jar ] || apt_missing+=(libmqtt-client-java)
if [ ${#apt_missing[@]} -gt 0 ]; then
    echo "==> apt-get install ${apt_missing[*]}"
    sudo_cmd=""
    [ "$(id -u)" -eq 0 ] || sudo_cmd=sudo
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${apt_missing[@]}"
fi

if [ ! -f tests/brokers/aedes/node_modules/aedes/package.json ]; then
    echo "==> npm ci (aedes)"
    (cd tests/brokers/aedes && npm ci --no-audit --no-fund --loglevel=error)
fi

if [ ! -x tests/.venv-amqtt/bin/amqtt ]; then
    echo "==> amqtt into tests/.venv-amqtt"
    python3 -m venv tests/.venv-amqtt
    tests/.venv-amqtt/bin/pip install -q amqtt==0.12.1
fi
for b in moquette hivemq; do
    if [ ! -s tests/brokers/$b/target/classpath.txt ] || [ ! -d tests/brokers/$b/target/classes ] \
        || [ tests/brokers/$b/pom.xml -nt tests/brokers/$b/target/classpath.txt ]; then
        echo "==> mvn ($b)"
        (cd tests/brokers/$b && mvn -q -B compile dependency:build-classpath \
            -Dmdep.outputFile=target/classpath.txt)
    fi
done
echo "system test brokers ready"
