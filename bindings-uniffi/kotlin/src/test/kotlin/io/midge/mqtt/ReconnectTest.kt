package io.midge.mqtt

import kotlin.test.assertEquals
import kotlin.test.assertTrue
import kotlinx.coroutines.async
import kotlinx.coroutines.coroutineScope
import kotlinx.coroutines.flow.take
import kotlinx.coroutines.flow.toList
import org.junit.jupiter.api.Test

class ReconnectTest {
    @Test
    fun `the client reconnects after the broker restarts and keeps its subscriptions`() = runTest {
        Broker().use { broker ->
            broker.start()
            MqttClient(testOptions(broker)).use { client ->
                client.watchingState { state ->
                    val received = client.messageFlow("restart/#")
                    client.connect()
                    client.subscribe("restart/#", QoS.AT_LEAST_ONCE)
                    broker.stop()
                    state.awaitState(ConnectionState.WAITING_TO_RECONNECT)
                    broker.start()
                    state.awaitState(ConnectionState.CONNECTED)
                    // The restarted broker lost the session; the client subscribed again.
                    val text = coroutineScope {
                        val got = async { received.take(1).toList() }
                        MqttClient(testOptions(broker)).use { pub ->
                            pub.connect()
                            // Until the re-subscribe is acknowledged the message may
                            // find no subscriber, so publish until it arrives.
                            while (!got.isCompleted) {
                                pub.publish("restart/x", "after restart", QoS.AT_LEAST_ONCE)
                                kotlinx.coroutines.delay(50)
                            }
                            pub.disconnect()
                        }
                        got.await().single().text
                    }
                    assertEquals("after restart", text)
                    client.disconnect()
                }
            }
        }
    }

    @Test
    fun `networkChanged retries at once instead of waiting for the backoff`() = runTest {
        Broker().use { broker ->
            broker.start()
            // A first backoff wait of at least 30 s: only networkChanged can reconnect sooner.
            val options = testOptions(broker).copy(reconnectMinDelayMs = 30_000u, reconnectMaxDelayMs = 60_000u)
            MqttClient(options).use { client ->
                client.watchingState { state ->
                    client.connect()
                    broker.stop()
                    state.awaitState(ConnectionState.WAITING_TO_RECONNECT)
                    broker.start()
                    val started = System.nanoTime()
                    client.networkChanged()
                    state.awaitState(ConnectionState.CONNECTED, ms = 10_000)
                    val tookMs = (System.nanoTime() - started) / 1_000_000
                    assertTrue(tookMs < 10_000, "reconnected after $tookMs ms")
                    client.disconnect()
                }
            }
        }
    }

    @Test
    fun `pause and resume keep the session and deliver what was published meanwhile`() = runTest {
        Broker().use { broker ->
            broker.start()
            MqttClient(testOptions(broker)).use { sub ->
                MqttClient(testOptions(broker)).use { client ->
                    client.watchingState { state ->
                        val received = sub.messageFlow("paused/#")
                        sub.connect()
                        sub.subscribe("paused/#", QoS.AT_LEAST_ONCE)
                        client.connect()
                        state.awaitState(ConnectionState.CONNECTED)
                        client.pause()
                        state.awaitState(ConnectionState.DISCONNECTED)
                        val pending = client.startPublish(Message("paused/x", "while paused".encodeToByteArray(), QoS.AT_LEAST_ONCE))
                        client.resume()
                        state.awaitState(ConnectionState.CONNECTED)
                        assertEquals(ReasonCode.SUCCESS, pending.result().reasonCode)
                        assertEquals("while paused", received.take(1).toList().single().text)
                        client.disconnect()
                        sub.disconnect()
                    }
                }
            }
        }
    }
}
