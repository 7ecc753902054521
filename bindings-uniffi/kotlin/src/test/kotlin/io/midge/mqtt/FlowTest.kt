package io.midge.mqtt

import java.util.concurrent.CopyOnWriteArrayList
import java.util.concurrent.LinkedBlockingQueue
import java.util.concurrent.TimeUnit
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertTrue
import kotlinx.coroutines.CoroutineStart
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.cancelAndJoin
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.flow.take
import kotlinx.coroutines.flow.toList
import kotlinx.coroutines.launch
import kotlinx.coroutines.withTimeout
import org.junit.jupiter.api.Test

class FlowTest : BrokerTest() {
    @Test
    fun `cancelling a collector stops its flow and leaves the others running`() = runTest {
        MqttClient(testOptions(broker)).use { client ->
            val cancelled = client.messageFlow("flow/#")
            val kept = client.messageFlow("flow/#")
            client.connect()
            client.subscribe("flow/#", QoS.AT_LEAST_ONCE)
            val seen = CopyOnWriteArrayList<String>()
            var finallyRan = false
            // The collector suspends inside the Rust future (MessageStream.next).
            val job = launch(Dispatchers.Default, start = CoroutineStart.UNDISPATCHED) {
                try {
                    cancelled.collect { seen.add(it.text) }
                } finally {
                    finallyRan = true
                }
            }
            client.publish("flow/a", "one", QoS.AT_LEAST_ONCE)
            withTimeout(5_000) { while (seen.isEmpty()) kotlinx.coroutines.yield() }
            withTimeout(5_000) { job.cancelAndJoin() }
            assertTrue(finallyRan)
            assertTrue(job.isCancelled)
            // Once collected, a messageFlow cannot be collected again.
            assertFailsWith<IllegalStateException> { cancelled.first() }

            client.publish("flow/b", "two", QoS.AT_LEAST_ONCE)
            assertEquals(listOf("one", "two"), kept.take(2).toList().map { it.text })
            assertEquals(listOf("one"), seen)
            client.disconnect()
        }
    }

    @Test
    fun `connection state is a StateFlow`() = runTest {
        MqttClient(testOptions(broker)).use { client ->
            client.watchingState { state ->
                assertEquals(ConnectionState.DISCONNECTED, state.value)
                client.connect()
                state.awaitState(ConnectionState.CONNECTED)
                client.disconnect()
                state.awaitState(ConnectionState.DISCONNECTED)
            }
        }
    }

    @Test
    fun `a listener gets messages and state changes on its own thread`() = runTest {
        MqttClient(testOptions(broker)).use { client ->
            val messages = LinkedBlockingQueue<Message>()
            val states = LinkedBlockingQueue<ConnectionState>()
            client.setListener(
                object : MqttListener {
                    override fun onMessage(message: Message) {
                        messages.add(message)
                    }

                    override fun onConnectionStateChanged(state: ConnectionState, cause: String?) {
                        states.add(state)
                    }
                },
            )
            assertEquals(ConnectionState.DISCONNECTED, states.poll(5, TimeUnit.SECONDS))
            client.connect()
            client.subscribe("listener/#", QoS.EXACTLY_ONCE)
            client.publish("listener/x", "hi", QoS.EXACTLY_ONCE)
            val m = messages.poll(5, TimeUnit.SECONDS)
            assertEquals("hi", m?.text)
            assertTrue(generateSequence { states.poll(5, TimeUnit.SECONDS) }.any { it == ConnectionState.CONNECTED })
            client.setListener(null)
            client.disconnect()
        }
    }
}
