// QoS 1 publish-to-receive latency beside Paho Java, one message at a time
// (nothing queues anywhere): from the publish call to the subscriber in this
// JVM getting the message, as bindings-python/bench/bench.py measures it.
// Run by bench.sh after the throughput rounds (Throughput.kt's main).
package io.midge.mqtt.bench

import io.midge.mqtt.Broker
import io.midge.mqtt.Message
import io.midge.mqtt.MqttClient
import io.midge.mqtt.MqttOptions
import io.midge.mqtt.ProtocolVersion
import io.midge.mqtt.QoS
import java.util.concurrent.SynchronousQueue
import java.util.concurrent.TimeUnit
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.eclipse.paho.client.mqttv3.MqttMessage

/**
 * midge: the publish handed over with [MqttClient.tryPublish] (QoS 1 always
 * gives a handle), the message read with [io.midge.mqtt.MessageStream.next],
 * then the handle's PUBACK awaited before the next message.
 */
private fun latencyMidge(broker: Broker, count: Int, tag: String): LongArray = runBlocking {
    val topic = "bench/kt/latency/$tag"
    val sub = MqttClient(MqttOptions(url = broker.url, clientId = "lmidge-sub-$tag", protocol = ProtocolVersion.V311))
    val pub = MqttClient(MqttOptions(url = broker.url, clientId = "lmidge-pub-$tag", protocol = ProtocolVersion.V311))
    sub.connect()
    pub.connect()
    val stream = sub.messages(topic)
    sub.subscribe(topic, QoS.AT_LEAST_ONCE)
    val message = Message(topic = topic, payload = PAYLOAD, qos = QoS.AT_LEAST_ONCE)
    val samples = LongArray(count) {
        val start = System.nanoTime()
        val handle = checkNotNull(pub.tryPublish(message)) { "a QoS 1 publish gives a handle" }
        checkNotNull(withTimeout(10_000) { stream.next() }) { "the stream ended" }
        val took = System.nanoTime() - start
        handle.use { it.result() }
        took
    }
    stream.stop()
    pub.disconnect()
    sub.disconnect()
    pub.close()
    sub.close()
    samples
}

/** Paho: the message handed from its callback thread to this one, the delivery token waited on after. */
private fun latencyPaho(broker: Broker, count: Int, tag: String): LongArray {
    val topic = "bench/kt/latency/$tag"
    val arrived = SynchronousQueue<MqttMessage>()
    return PahoPair(broker, "latency-$tag", topic, 1) { arrived.put(it) }.use { paho ->
        LongArray(count) {
            val start = System.nanoTime()
            val token = paho.pub.publish(topic, PAYLOAD, 1, false)
            checkNotNull(arrived.poll(10, TimeUnit.SECONDS)) { "a Paho message did not arrive" }
            val took = System.nanoTime() - start
            token.waitForCompletion()
            took
        }
    }
}

/** Prints p50 and p99 in µs for each library; a warm-up run of each first, for the JIT. */
fun printLatency(broker: Broker, count: Int) {
    val libraries = listOf<Pair<String, (Broker, Int, String) -> LongArray>>(
        "midge" to ::latencyMidge,
        "paho-java" to ::latencyPaho,
    )
    for ((name, run) in libraries) run(broker, count, "$name-warmup")
    println("QoS 1 publish-to-receive latency, one message at a time, $count messages (µs):")
    for ((name, run) in libraries) {
        val sorted = run(broker, count, name).sorted()
        val p50 = sorted[sorted.size / 2] / 1e3
        val p99 = sorted[minOf(sorted.size - 1, sorted.size * 99 / 100)] / 1e3
        println("latency  %-10s p50 %7.1f µs  p99 %7.1f µs".format(name, p50, p99))
    }
}
