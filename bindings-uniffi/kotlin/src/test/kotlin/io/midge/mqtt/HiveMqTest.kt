package io.midge.mqtt

import kotlin.test.assertEquals
import kotlinx.coroutines.async
import kotlinx.coroutines.flow.take
import kotlinx.coroutines.flow.toList
import kotlinx.coroutines.withTimeout
import org.junit.jupiter.api.AfterAll
import org.junit.jupiter.api.BeforeAll
import org.junit.jupiter.api.TestInstance
import org.junit.jupiter.params.ParameterizedTest
import org.junit.jupiter.params.provider.EnumSource

/**
 * HiveMQ CE (embedded, `tests/brokers/hivemq`), the second real broker of
 * this suite, run by the shared launcher (`midge-testkit broker hivemq`) on
 * free loopback ports: in-memory, anonymous usage statistics off. The
 * launcher returns once its ports accept connections and the broker logged
 * that it started; [close] kills it. Needs `scripts/setup-system-tests.sh`
 * (`scripts/setup.sh` runs it before any test).
 */
class HiveMq : AutoCloseable {
    private val kit = Testkit("broker", "hivemq")
    val version: String = kit.ready.getValue("version")
    val url: String = "mqtt://127.0.0.1:${kit.ready.getValue("tcp")}"

    override fun close() = kit.close()
}

/**
 * The core round trip against HiveMQ CE (the rest of the suite runs against
 * mosquitto): connect, subscribe, publish at QoS 0, 1 and 2 and receive
 * each, a retained message reaching a later subscriber, disconnect; at MQTT
 * 5.0 and 3.1.1. One HiveMQ for the class.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class HiveMqTest {
    private lateinit var hivemq: HiveMq

    @BeforeAll
    fun startHiveMq() {
        val started = System.nanoTime()
        hivemq = HiveMq()
        println("HiveMQ CE ${hivemq.version} ready in ${(System.nanoTime() - started) / 1_000_000} ms")
    }

    @AfterAll
    fun stopHiveMq() = hivemq.close()

    private fun options(protocol: ProtocolVersion) = MqttOptions(
        url = hivemq.url,
        clientId = uniqueId("hivemq"),
        protocol = protocol,
        reconnectMinDelayMs = 100u,
        reconnectMaxDelayMs = 500u,
    )

    @ParameterizedTest
    @EnumSource(ProtocolVersion::class)
    fun `core round trip against HiveMQ CE`(protocol: ProtocolVersion) = runTest {
        val topic = "hivemq/${protocol.name.lowercase()}/${uniqueId("t")}"
        MqttClient(options(protocol)).use { client ->
            val received = client.messageFlow("$topic/+")
            client.connect()
            assertEquals(ConnectionState.CONNECTED, client.state())
            assertEquals(QoS.EXACTLY_ONCE, client.subscribe("$topic/+", QoS.EXACTLY_ONCE))
            val collected = async { received.take(4).toList() }
            for (qos in QoS.entries) {
                val result = client.publish("$topic/${qos.name.lowercase()}", "at ${qos.name}", qos)
                assertEquals(ReasonCode.SUCCESS, result.reasonCode)
            }
            // Retained: set here, delivered to a later subscriber with RETAIN set.
            client.publish("$topic/retained", "last value", QoS.AT_LEAST_ONCE, retain = true)
            val messages = withTimeout(10_000) { collected.await() }
            assertEquals(
                (
                    QoS.entries.map { Triple("$topic/${it.name.lowercase()}", "at ${it.name}", it) } +
                        Triple("$topic/retained", "last value", QoS.AT_LEAST_ONCE)
                    ).sortedBy { it.first },
                messages.map { Triple(it.topic, it.text, it.qos) }.sortedBy { it.first },
            )
            assertEquals(listOf(false, false, false, false), messages.map { it.retain })
            client.disconnect()
            assertEquals(ConnectionState.DISCONNECTED, client.state())
        }
        MqttClient(options(protocol)).use { later ->
            val received = later.messageFlow("$topic/retained")
            later.connect()
            later.subscribe("$topic/retained", QoS.AT_LEAST_ONCE)
            val m = withTimeout(10_000) { received.take(1).toList().single() }
            assertEquals(Triple("$topic/retained", "last value", QoS.AT_LEAST_ONCE), Triple(m.topic, m.text, m.qos))
            assertEquals(true, m.retain)
            later.publish("$topic/retained", "", QoS.AT_LEAST_ONCE, retain = true) // clear it
            later.disconnect()
            assertEquals(ConnectionState.DISCONNECTED, later.state())
        }
    }
}
