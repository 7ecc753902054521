// The idiomatic Kotlin layer over the generated bindings (midge_uniffi.kt):
// incoming messages as a Flow, the connection state as a StateFlow, and a
// few conveniences. Everything here calls the generated API; no MQTT logic.
package io.midge.mqtt

import java.util.concurrent.atomic.AtomicBoolean
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.flow.flow
import kotlinx.coroutines.ensureActive
import kotlinx.coroutines.launch

/** Messages a [messageFlow] takes from the library per call. */
private const val FLOW_BATCH: UInt = 64u

/**
 * Incoming messages whose topic matches [filter] (`null`: every message), as
 * a [Flow].
 *
 * The client starts keeping messages for this flow **when this function is
 * called**, not when the flow is collected, so call it before [MqttClient.connect]
 * or [MqttClient.subscribe]: messages the broker kept for an offline session
 * arrive right after CONNACK, and retained ones right after SUBACK.
 * The flow can be collected once; cancelling the collector (or an operator
 * such as `take`) stops it and releases the stream. Nothing is dropped when
 * the collector is slow: once collection has started, the connection waits
 * for it. Until then the flow keeps the first `messageBuffer` messages and
 * lets later ones pass it by, so a flow that is made and never collected
 * holds nothing back (the other flows, streams and the listener go on).
 *
 * ```kotlin
 * val messages = client.messageFlow("chat/#")
 * client.connect()
 * client.subscribe("chat/#", QoS.AT_LEAST_ONCE)
 * messages.collect { println("${it.topic}: ${it.text}") }
 * ```
 */
fun MqttClient.messageFlow(filter: String? = null): Flow<Message> {
    val stream = messagesOnDemand(filter)
    val collected = AtomicBoolean(false)
    return flow {
        check(collected.compareAndSet(false, true)) {
            "a messageFlow can be collected once; call messageFlow() again for another collector"
        }
        try {
            // In batches: one call into the library per batch, not per message.
            while (true) {
                val batch = stream.nextBatch(FLOW_BATCH) ?: break
                for (message in batch) emit(message)
            }
        } finally {
            stream.stop()
            stream.destroy()
        }
    }
}

/**
 * The connection state as a [StateFlow], kept up to date by a coroutine in
 * [scope] (cancel the scope to stop it; it also stops when the client is
 * closed). Fast transitions may be conflated,
 * as with any StateFlow; the latest state is always delivered.
 *
 * ```kotlin
 * val state = client.connectionState(lifecycleScope)
 * state.first { it == ConnectionState.CONNECTED }
 * ```
 */
fun MqttClient.connectionState(scope: CoroutineScope): StateFlow<ConnectionState> {
    val state = MutableStateFlow(state())
    scope.launch {
        var current = state.value
        try {
            while (true) {
                ensureActive()
                current = nextState(current) ?: break
                state.value = current
            }
        } catch (_: IllegalStateException) {
            // The client was closed (destroyed) meanwhile: nothing left to watch.
        }
    }
    return state.asStateFlow()
}

/**
 * Publish a UTF-8 text (or bytes, with the `ByteArray` overload) and wait
 * until it is done: acknowledged by the broker for QoS 1/2, taken by the
 * client for QoS 0. Does what [MqttClient.publish] does; a QoS 0 message
 * the client takes at once costs one call into the library
 * ([MqttClient.tryPublish]) instead of several, so prefer these helpers,
 * or `tryPublish`, to publish many QoS 0 messages.
 *
 * ```kotlin
 * client.publish("users/alice/presence", "online", QoS.AT_LEAST_ONCE, retain = true)
 * ```
 */
suspend fun MqttClient.publish(
    topic: String,
    payload: String,
    qos: QoS = QoS.AT_MOST_ONCE,
    retain: Boolean = false,
): PublishResult = publishQuickly(Message(topic = topic, payload = payload.encodeToByteArray(), qos = qos, retain = retain))

/** Publish bytes; see the `String` overload. */
suspend fun MqttClient.publish(
    topic: String,
    payload: ByteArray,
    qos: QoS = QoS.AT_MOST_ONCE,
    retain: Boolean = false,
): PublishResult = publishQuickly(Message(topic = topic, payload = payload, qos = qos, retain = retain))

// QoS 0 only: `tryPublish` gives QoS 1/2 a handle, and waiting on it takes
// more calls into the library than `publish` does.
private suspend fun MqttClient.publishQuickly(message: Message): PublishResult =
    if (message.qos == QoS.AT_MOST_ONCE) {
        tryPublish(message)?.use { it.result() } ?: PublishResult(ReasonCode.SUCCESS)
    } else {
        publish(message)
    }

/** The payload decoded as UTF-8 (invalid sequences become U+FFFD). */
val Message.text: String
    get() = payload.decodeToString()

/** The wire value of the reason code, e.g. `0x87` for [ReasonCode.NOT_AUTHORIZED]. */
val ReasonCode.value: Int
    get() = reasonCodeValue(this).toInt()

/**
 * The MQTT reason code behind this error, if the broker gave one
 * (CONNACK, PUBACK/PUBREC, SUBACK or DISCONNECT).
 */
val MqttException.reasonCode: ReasonCode?
    get() = when (this) {
        is MqttException.ConnectionRefused -> reasonCode
        is MqttException.PublishRejected -> reasonCode
        is MqttException.SubscriptionRefused -> reasonCode
        is MqttException.Protocol -> reasonCode
        else -> null
    }
