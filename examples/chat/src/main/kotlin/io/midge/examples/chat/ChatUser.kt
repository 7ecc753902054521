// A messenger-style chat user over midge:
// - presence: a retained `users/<id>/presence` ("online"/"offline"), with a
//   Last Will that sets "offline" when the connection dies without goodbye;
// - rooms: `chat/<room>` at QoS 1 with a persistent session (fixed client id,
//   clean start off, a session expiry), so messages sent while the user was
//   offline are delivered when they come back (catch-up);
// - an optional session file, so unacknowledged sends survive a killed app.
package io.midge.examples.chat

import io.midge.mqtt.Message
import io.midge.mqtt.MqttClient
import io.midge.mqtt.MqttOptions
import io.midge.mqtt.QoS
import io.midge.mqtt.UserProperty
import io.midge.mqtt.Will
import io.midge.mqtt.messageFlow
import io.midge.mqtt.publish
import io.midge.mqtt.text
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.Job
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.receiveAsFlow
import kotlinx.coroutines.launch

/** Something the user sees. */
sealed interface ChatEvent {
    /** [from] said [text] in [room]. */
    data class Said(val room: String, val from: String, val text: String) : ChatEvent

    /** [user] went online or offline. */
    data class Presence(val user: String, val online: Boolean) : ChatEvent
}

/**
 * One chat user connected to [url], in [room].
 *
 * ```kotlin
 * val alice = ChatUser("mqtt://127.0.0.1:1883", "alice", "lobby")
 * alice.start(scope)
 * alice.say("hello")
 * alice.events.collect { println(it) }
 * ```
 */
class ChatUser(
    url: String,
    val id: String,
    val room: String,
    sessionStorePath: String? = null,
) : AutoCloseable {
    init {
        require(id.isNotEmpty() && id.none { it in "/+#" }) { "user id must be non-empty without '/', '+' or '#'" }
        require(room.isNotEmpty() && room.none { it in "/+#" }) { "room must be non-empty without '/', '+' or '#'" }
    }

    private val presenceTopic = "users/$id/presence"
    private val roomTopic = "chat/$room"

    private val client = MqttClient(
        MqttOptions(
            url = url,
            clientId = "chat-$id",
            cleanStart = false,
            sessionExpiryIntervalSecs = 7u * 24u * 3600u,
            will = Will(topic = presenceTopic, payload = OFFLINE.encodeToByteArray(), qos = QoS.AT_LEAST_ONCE, retain = true),
            sessionStorePath = sessionStorePath,
        ),
    )
    private val channel = Channel<ChatEvent>(Channel.UNLIMITED)
    private var reader: Job? = null

    /** What this user sees, in order. */
    val events: Flow<ChatEvent> = channel.receiveAsFlow()

    /**
     * Connect, announce presence and join the room. Messages kept by the
     * broker while we were away arrive first (catch-up).
     */
    suspend fun start(scope: CoroutineScope) {
        // Registered before connect: the catch-up arrives right after CONNACK.
        val rooms = client.messageFlow("chat/+")
        val presence = client.messageFlow("users/+/presence")
        reader = scope.launch(Dispatchers.Default) {
            launch { rooms.collect { channel.send(toSaid(it)) } }
            launch {
                presence.collect {
                    val user = it.topic.removePrefix("users/").removeSuffix("/presence")
                    if (it.payload.isNotEmpty()) channel.send(ChatEvent.Presence(user, it.text == ONLINE))
                }
            }
        }
        client.connect()
        client.subscribe(roomTopic, QoS.AT_LEAST_ONCE)
        client.subscribe("users/+/presence", QoS.AT_LEAST_ONCE)
        client.publish(presenceTopic, ONLINE, QoS.AT_LEAST_ONCE, retain = true)
    }

    /** Say [text] in the room; returns once the broker has it. */
    suspend fun say(text: String) {
        client.publish(
            Message(
                topic = roomTopic,
                payload = text.encodeToByteArray(),
                qos = QoS.AT_LEAST_ONCE,
                userProperties = listOf(UserProperty("from", id)),
            ),
        )
    }

    /** Leave politely: presence "offline", then DISCONNECT. The session stays for catch-up. */
    suspend fun leave() {
        client.publish(presenceTopic, OFFLINE, QoS.AT_LEAST_ONCE, retain = true)
        client.disconnect()
        stopReading()
    }

    /** Vanish as a killed app would: no DISCONNECT, so the broker publishes the Last Will. */
    fun crash() {
        stopReading()
        client.close()
    }

    override fun close() {
        stopReading()
        client.close()
    }

    private fun stopReading() {
        reader?.cancel()
        reader = null
    }

    private fun toSaid(m: Message): ChatEvent.Said = ChatEvent.Said(
        room = m.topic.removePrefix("chat/"),
        from = m.userProperties.firstOrNull { it.name == "from" }?.value ?: "?",
        text = m.text,
    )

    companion object {
        const val ONLINE = "online"
        const val OFFLINE = "offline"
    }
}
