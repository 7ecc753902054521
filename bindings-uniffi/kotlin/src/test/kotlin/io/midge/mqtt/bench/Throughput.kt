// The Kotlin binding beside Eclipse Paho's Java client (mqttv3), in one JVM
// and one run: a publisher and a subscriber of the same library, 64-byte
// payloads, at most `window` publishes unacknowledged, through one mosquitto
// of the bench's own. It prints msg/s, the JVM's CPU time per message (every
// thread: the library's, the JIT's and the GC's) and mosquitto's busy share,
// the median of `rounds` alternating rounds, and Paho's cost over midge's;
// then QoS 1 latency (Latency.kt).
// Not a test: run it with
// bindings-uniffi/kotlin/bench.sh [count] [rounds] [QoS list, as 0,1,2] [latency messages, 0: none].
package io.midge.mqtt.bench

import io.midge.mqtt.Broker
import io.midge.mqtt.Message
import io.midge.mqtt.MqttClient
import io.midge.mqtt.MqttOptions
import io.midge.mqtt.PendingPublish
import io.midge.mqtt.ProtocolVersion
import io.midge.mqtt.QoS
import io.midge.mqtt.messageFlow
import java.io.File
import java.lang.management.ManagementFactory
import java.util.concurrent.CountDownLatch
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicInteger
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.async
import kotlinx.coroutines.flow.count
import kotlinx.coroutines.flow.take
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.eclipse.paho.client.mqttv3.IMqttDeliveryToken

internal val PAYLOAD = ByteArray(64) { 'x'.code.toByte() }
private const val WINDOW = 100
private var topics = 0

/** One library's run: how long it took and what it cost. */
private data class Run(val seconds: Double, val cpuNs: Long, val brokerNs: Long)

/** mosquitto as the Python bench runs it: nothing queued, Nagle off. */
private fun benchBroker(): Broker = Broker(
    """
    max_queued_messages 0
    max_queued_bytes 0
    max_inflight_messages $WINDOW
    set_tcp_nodelay true
    """.trimIndent(),
).start()

/** Nanoseconds mosquitto has run on a CPU (Linux /proc/PID/schedstat). */
private fun Broker.busyNs(): Long = File("/proc/$pid/schedstat").readText().split(" ")[0].toLong()

private val os = ManagementFactory.getOperatingSystemMXBean() as com.sun.management.OperatingSystemMXBean

private fun measured(broker: Broker, body: () -> Unit): Run {
    val cpu0 = os.processCpuTime
    val busy0 = broker.busyNs()
    val t0 = System.nanoTime()
    body()
    return Run((System.nanoTime() - t0) / 1e9, os.processCpuTime - cpu0, broker.busyNs() - busy0)
}

private fun nextTopic(): String = "bench/kt/${ProcessHandle.current().pid()}/${++topics}"

/**
 * midge as its docs advise for many messages: a [messageFlow] collected on a
 * coroutine; QoS 0 publishes handed over with [MqttClient.tryPublish] (a
 * handle kept only when one is not done at once), QoS 1/2 ones with
 * [MqttClient.startPublish].
 */
private fun runMidge(broker: Broker, qos: QoS, count: Int): Run = runBlocking {
    val topic = nextTopic()
    val url = "mqtt://127.0.0.1:${broker.port}"
    val sub = MqttClient(
        MqttOptions(
            url = url,
            clientId = "kmidge-sub-$topics",
            protocol = ProtocolVersion.V311,
            receiveMaximum = 65535u,
            messageBuffer = (count + 10).toUInt(),
        ),
    )
    val pub = MqttClient(
        MqttOptions(url = url, clientId = "kmidge-pub-$topics", protocol = ProtocolVersion.V311, maxInflight = WINDOW.toUInt()),
    )
    sub.connect()
    pub.connect()
    val messages = sub.messageFlow(topic)
    sub.subscribe(topic, qos)
    val run = measured(broker) {
        runBlocking {
            val consumer = async(Dispatchers.Default) { messages.take(count).count() }
            val inflight = ArrayDeque<PendingPublish>()
            repeat(count) {
                val message = Message(topic = topic, payload = PAYLOAD, qos = qos)
                if (qos == QoS.AT_MOST_ONCE) {
                    pub.tryPublish(message)?.let { inflight.addLast(it) }
                } else {
                    inflight.addLast(pub.startPublish(message))
                }
                if (inflight.size >= WINDOW) inflight.removeFirst().use { it.result() }
            }
            for (handle in inflight) handle.use { it.result() }
            check(withTimeout(120_000) { consumer.await() } == count)
        }
    }
    pub.disconnect()
    sub.disconnect()
    pub.close()
    sub.close()
    run
}

/** Paho: MqttAsyncClient, messages counted in its callback, delivery tokens waited on. */
private fun runPaho(broker: Broker, qos: QoS, count: Int): Run {
    val topic = nextTopic()
    val received = AtomicInteger()
    val all = CountDownLatch(1)
    return PahoPair(broker, "$topics", topic, qos.level()) {
        if (received.incrementAndGet() == count) all.countDown()
    }.use { paho ->
        measured(broker) {
            val inflight = ArrayDeque<IMqttDeliveryToken>()
            repeat(count) {
                inflight.addLast(paho.pub.publish(topic, PAYLOAD, qos.level(), false))
                if (inflight.size >= WINDOW) inflight.removeFirst().waitForCompletion()
            }
            for (token in inflight) token.waitForCompletion()
            check(all.await(120, TimeUnit.SECONDS)) { "the Paho subscriber got ${received.get()} of $count" }
        }
    }
}

private fun median(values: List<Double>): Double = values.sorted()[values.size / 2]

private fun QoS.level(): Int = when (this) {
    QoS.AT_MOST_ONCE -> 0
    QoS.AT_LEAST_ONCE -> 1
    QoS.EXACTLY_ONCE -> 2
}

fun main(args: Array<String>) {
    val count = args.getOrNull(0)?.toInt() ?: 20_000
    val rounds = args.getOrNull(1)?.toInt() ?: 3
    val levels = args.getOrNull(2)?.split(",")?.map { level ->
        QoS.entries.firstOrNull { it.level() == level.toIntOrNull() } ?: error("the QoS list takes 0, 1 and 2, not $level")
    } ?: QoS.entries
    val latencyCount = args.getOrNull(3)?.toInt() ?: 2_000
    val libraries = listOf<Pair<String, (Broker, QoS, Int) -> Run>>(
        "midge" to ::runMidge,
        "paho-java" to ::runPaho,
    )
    println("Kotlin/JVM: $count messages of ${PAYLOAD.size} B per run, window $WINDOW, median of $rounds alternating rounds")
    println("(CPU: the whole JVM, every thread; mosquitto: share of the run it spent on a CPU)")
    benchBroker().use { broker ->
        // Warm-up: the JIT compiles both libraries' paths before anything counts.
        for ((_, run) in libraries) for (qos in levels) run(broker, qos, count / 4)
        for (qos in levels) {
            val runs = libraries.associate { it.first to mutableListOf<Run>() }
            repeat(rounds) { for ((name, run) in libraries) runs.getValue(name).add(run(broker, qos, count)) }
            val cpu = runs.mapValues { (_, r) -> median(r.map { it.cpuNs / 1e3 / count }) }
            for ((name, r) in runs) {
                val rate = median(r.map { count / it.seconds })
                val busy = median(r.map { it.brokerNs / 1e9 / it.seconds * 100 })
                println(
                    "QoS ${qos.level()}  %-10s %9.0f msg/s  CPU %7.2f µs/msg  mosquitto busy %3.0f%%"
                        .format(name, rate, cpu.getValue(name), busy),
                )
            }
            val ratio = cpu.getValue("midge") / cpu.getValue("paho-java")
            println("QoS ${qos.level()}  midge / paho-java CPU per message: %.2fx (above 1: midge costs more)".format(ratio))
        }
        if (latencyCount > 0) printLatency(broker, latencyCount)
    }
}
