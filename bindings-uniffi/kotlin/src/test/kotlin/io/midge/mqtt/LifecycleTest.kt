package io.midge.mqtt

import java.util.concurrent.atomic.AtomicInteger
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertTrue
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.async
import kotlinx.coroutines.awaitAll
import kotlinx.coroutines.flow.take
import kotlinx.coroutines.flow.toList
import kotlinx.coroutines.launch
import kotlinx.coroutines.withTimeout
import org.junit.jupiter.api.Test

/**
 * The lifecycle rows of core/SEMANTICS.md through the Kotlin API, against a
 * real mosquitto: the same driver Python uses, so the same outcomes. Each
 * of these hung or lost data before the core owned the fate of pending work.
 */
// Unlimited per-client queue: a slow subscriber must not make mosquitto drop.
class LifecycleTest : BrokerTest("max_queued_messages 0") {
    private fun qos1(topic: String, text: String) =
        Message(topic = topic, payload = text.encodeToByteArray(), qos = QoS.AT_LEAST_ONCE)

    @Test
    fun `a collector that publishes and waits for each PUBACK handles a 12,000-message burst`() = runTest(180_000) {
        val burst = 12_000
        MqttClient(testOptions(broker)).use { sub ->
            MqttClient(testOptions(broker).copy(maxQueuedMessages = 20_000u)).use { pub ->
                val inbound = sub.messageFlow("burst/in")
                sub.connect()
                sub.subscribe("burst/in", QoS.AT_LEAST_ONCE)
                pub.connect()
                val handled = AtomicInteger()
                val handler = launch(Dispatchers.Default) {
                    inbound.take(burst).collect {
                        // Publishing from the collector and waiting for the
                        // PUBACK deadlocked when the driver awaited the collector.
                        sub.publish("burst/out", it.payload, QoS.AT_LEAST_ONCE)
                        handled.incrementAndGet()
                    }
                }
                val pending = (0 until burst).map { pub.startPublish(qos1("burst/in", "m$it")) }
                pending.forEach { it.result() }
                withTimeout(120_000) { handler.join() }
                assertEquals(burst, handled.get())
                // Commands still run: nothing is stuck behind the burst.
                withTimeout(10_000) { sub.publish("burst/out", "after", QoS.AT_LEAST_ONCE) }
                withTimeout(10_000) { sub.disconnect() }
                pub.disconnect()
            }
        }
    }

    @Test
    fun `a filtered flow collected alone gets all of 20,000 messages`() = runTest(120_000) {
        val count = 20_000
        MqttClient(testOptions(broker)).use { sub ->
            MqttClient(testOptions(broker).copy(maxQueuedMessages = 30_000u)).use { pub ->
                val data = sub.messageFlow("data/#")
                sub.connect()
                // subscribe() creates no hidden catch-all receiver that could fill up.
                sub.subscribe("data/#", QoS.AT_LEAST_ONCE)
                sub.subscribe("other/#", QoS.AT_LEAST_ONCE)
                pub.connect()
                val got = AtomicInteger()
                val reader = launch(Dispatchers.Default) { data.take(count).collect { got.incrementAndGet() } }
                val pending = (0 until count).map { pub.startPublish(qos1(if (it % 2 == 0) "data/x" else "other/x", "m$it")) } +
                    (0 until count / 2).map { pub.startPublish(qos1("data/x", "extra$it")) }
                pending.forEach { it.result() }
                withTimeout(60_000) { reader.join() }
                assertEquals(count, got.get())
                withTimeout(10_000) { sub.disconnect() }
                pub.disconnect()
            }
        }
    }

    @Test
    fun `a clean disconnect after unawaited publishes loses nothing and fires no will, 20 rounds`() = runTest(180_000) {
        var lostOrWill = 0
        MqttClient(testOptions(broker)).use { watcher ->
            val seen = watcher.messageFlow(null)
            watcher.connect()
            watcher.subscribe("graceful/#", QoS.AT_LEAST_ONCE)
            val results = mutableListOf<String>()
            val collector = launch(Dispatchers.Default) { seen.collect { synchronized(results) { results.add(it.text) } } }
            repeat(20) { round ->
                val id = uniqueId("graceful")
                val options = testOptions(broker, id).copy(
                    will = Will(topic = "graceful/will/$id", payload = "gone".encodeToByteArray(), qos = QoS.AT_LEAST_ONCE),
                )
                MqttClient(options).use { c ->
                    c.connect()
                    // Subscribed to its own topic, so inbound data is unread when the close starts.
                    c.subscribe("graceful/data/$id", QoS.AT_MOST_ONCE)
                    repeat(4) { c.startPublish(Message(topic = "graceful/data/$id", payload = "r$round-$it".encodeToByteArray(), qos = QoS.AT_MOST_ONCE)) }
                    c.disconnect()
                }
                // A marker published after the round: once it arrives, everything of the round has too.
                watcher.publish("graceful/marker/$id", "end", QoS.AT_LEAST_ONCE)
                withTimeout(10_000) {
                    while (synchronized(results) { "end" !in results }) kotlinx.coroutines.delay(5)
                }
                synchronized(results) {
                    val data = results.count { it.startsWith("r$round-") }
                    if (data != 4 || "gone" in results) lostOrWill++
                    results.clear()
                }
            }
            collector.cancel()
            watcher.disconnect()
        }
        assertEquals(0, lostOrWill, "rounds that lost a publish or published the will")
    }

    @Test
    fun `pause keeps 200 QoS 2 publishes pending and resume completes each exactly once`() = runTest(120_000) {
        MqttClient(testOptions(broker)).use { watcher ->
            val seen = watcher.messageFlow("paused/#")
            watcher.connect()
            watcher.subscribe("paused/#", QoS.EXACTLY_ONCE)
            val got = mutableListOf<String>()
            val collector = launch(Dispatchers.Default) { seen.take(200).collect { synchronized(got) { got.add(it.text) } } }
            MqttClient(testOptions(broker).copy(cleanStart = false, sessionExpiryIntervalSecs = 300u)).use { c ->
                c.connect()
                val pending = (0 until 200).map {
                    c.startPublish(Message(topic = "paused/x", payload = "p$it".encodeToByteArray(), qos = QoS.EXACTLY_ONCE))
                }
                c.pause()
                c.resume()
                val outcomes = pending.map { async { runCatching { it.result() } } }.awaitAll()
                assertEquals(emptyList(), outcomes.mapNotNull { it.exceptionOrNull()?.toString() })
                withTimeout(30_000) { collector.join() }
                c.disconnect()
            }
            assertEquals((0 until 200).map { "p$it" }.toSet(), got.toSet())
            assertEquals(200, got.size, "duplicates at QoS 2")
            watcher.disconnect()
        }
    }

    @Test
    fun `every command after disconnect fails at once with Closed`() = runTest(30_000) {
        MqttClient(testOptions(broker)).use { c ->
            c.connect()
            c.disconnect()
            withTimeout(2_000) {
                assertFailsWith<MqttException.Closed> { c.publish("closed/x", "a", QoS.AT_MOST_ONCE) }
                assertFailsWith<MqttException.Closed> { c.publish("closed/x", "a", QoS.AT_LEAST_ONCE) }
                assertFailsWith<MqttException.Closed> { c.subscribe("closed/#", QoS.AT_LEAST_ONCE) }
            }
            // connect() reopens it.
            c.connect()
            // Nobody subscribes: a 5.0 broker answers No matching subscribers, still a success.
            val code = c.publish("closed/x", "b", QoS.AT_LEAST_ONCE).reasonCode
            assertTrue(code == ReasonCode.SUCCESS || code == ReasonCode.NO_MATCHING_SUBSCRIBERS, "$code")
            c.disconnect()
        }
    }

    @Test
    fun `a flow made and never collected holds nothing back, and keeps the first messageBuffer messages`() =
        runTest(60_000) {
            val topic = "lifecycle/held/${uniqueId("t")}"
            MqttClient(testOptions(broker).copy(messageBuffer = 100u)).use { c ->
                val idle = c.messageFlow(null) // made, not collected (yet)
                val collected = c.messageFlow(topic)
                c.connect()
                c.subscribe(topic, QoS.AT_MOST_ONCE)
                val texts = kotlinx.coroutines.channels.Channel<String>(kotlinx.coroutines.channels.Channel.UNLIMITED)
                val collector = launch(Dispatchers.Default) { collected.collect { texts.send(it.text) } }
                // The collector has started once it has the first message.
                c.publish(topic, "ready", QoS.AT_MOST_ONCE)
                assertEquals("ready", withTimeout(5_000) { texts.receive() })
                repeat(1_000) { c.publish(topic, "m$it", QoS.AT_MOST_ONCE) }
                // Before: delivery stopped once the idle flow held messageBuffer messages.
                val got = withTimeout(20_000) { (0 until 1_000).map { texts.receive() } }
                assertEquals((0 until 1_000).map { "m$it" }, got)
                collector.cancel()
                withTimeout(10_000) {
                    val code = c.publish("$topic/other", "acked", QoS.AT_LEAST_ONCE).reasonCode
                    assertTrue(code == ReasonCode.SUCCESS || code == ReasonCode.NO_MATCHING_SUBSCRIBERS, "$code")
                }
                // Collected late, the idle flow starts with the first 100 it kept.
                val early = withTimeout(5_000) { idle.take(100).toList().map { it.text } }
                assertEquals(listOf("ready") + (0 until 99).map { "m$it" }, early)
                withTimeout(5_000) { c.disconnect() }
            }
        }

    @Test
    fun `a publish whose wait is cancelled by withTimeout is still delivered, as the docs say`() = runTest(60_000) {
        val topic = "lifecycle/cancel/${uniqueId("t")}"
        MqttClient(testOptions(broker)).use { receiver ->
            receiver.connect()
            val got = receiver.messages(topic)
            receiver.subscribe(topic, QoS.AT_LEAST_ONCE)
            MqttClient(testOptions(broker)).use { c ->
                c.connect()
                c.pause() // offline: the publish cannot complete yet
                assertFailsWith<kotlinx.coroutines.TimeoutCancellationException> {
                    withTimeout(200) { c.publish(qos1(topic, "cancelled wait")) }
                }
                c.resume()
                val m = withTimeout(10_000) { got.next() }
                assertEquals("cancelled wait", m?.text)
                c.disconnect()
            }
            got.stop()
            got.destroy()
            receiver.disconnect()
        }
    }
}
