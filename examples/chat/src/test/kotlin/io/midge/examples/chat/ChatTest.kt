package io.midge.examples.chat

import java.io.File
import java.nio.file.Files
import kotlin.test.assertEquals
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.cancel
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.jupiter.api.AfterEach
import org.junit.jupiter.api.BeforeEach
import org.junit.jupiter.api.Test

/** Two users on one mosquitto: presence, delivery, catch-up after being offline, Last Will. */
class ChatTest {
    private lateinit var dir: File
    private lateinit var broker: Process
    private var port = 0
    private val url get() = "mqtt://127.0.0.1:$port"

    /** mosquitto from the launcher every suite uses (`midge-testkit`, built by the test scripts). */
    @BeforeEach
    fun startBroker() {
        dir = Files.createTempDirectory("midge-chat").toFile()
        val testkit = System.getenv("MIDGE_TESTKIT")
            ?: File(System.getProperty("user.dir"), "../../target/debug/midge-testkit").canonicalPath
        check(File(testkit).canExecute()) { "$testkit is missing: cargo build -p midge-system-tests --bin midge-testkit" }
        broker = ProcessBuilder(testkit, "mosquitto")
            .redirectError(ProcessBuilder.Redirect.INHERIT)
            .start()
        // `ready tcp=PORT ...` once the broker accepts connections.
        val ready = broker.inputStream.bufferedReader().readLine() ?: error("midge-testkit exited")
        port = ready.split(' ').first { it.startsWith("tcp=") }.removePrefix("tcp=").toInt()
    }

    /** Closing its stdin stops the broker; the launcher then exits. */
    @AfterEach
    fun stopBroker() {
        broker.outputStream.close()
        broker.waitFor()
        dir.deleteRecursively()
    }

    private suspend fun Flow<ChatEvent>.next(match: (ChatEvent) -> Boolean): ChatEvent =
        withTimeout(10_000) { first(match) }

    @Test
    fun `presence, delivery, catch-up and last will between two users`() = runBlocking {
        val scope = CoroutineScope(Dispatchers.Default + SupervisorJob())
        try {
            val alice = ChatUser(url, "alice", "lobby", File(dir, "alice.session").path)
            alice.start(scope)
            val bob = ChatUser(url, "bob", "lobby")
            bob.start(scope)

            // Presence: each sees the other online (retained, so order does not matter).
            alice.events.next { it == ChatEvent.Presence("bob", true) }
            bob.events.next { it == ChatEvent.Presence("alice", true) }

            // Delivery.
            bob.say("hi alice")
            assertEquals(ChatEvent.Said("lobby", "bob", "hi alice"), alice.events.next { it is ChatEvent.Said })

            // Alice leaves; bob sees her offline and writes twice meanwhile.
            alice.leave()
            alice.close()
            bob.events.next { it == ChatEvent.Presence("alice", false) }
            bob.say("are you there?")
            bob.say("call me")

            // Alice comes back (a new process would do the same): catch-up in order.
            val alice2 = ChatUser(url, "alice", "lobby", File(dir, "alice.session").path)
            alice2.start(scope)
            val caughtUp = listOf(
                alice2.events.next { it is ChatEvent.Said && it.from == "bob" },
                alice2.events.next { it is ChatEvent.Said && it.from == "bob" },
            )
            assertEquals(
                listOf(ChatEvent.Said("lobby", "bob", "are you there?"), ChatEvent.Said("lobby", "bob", "call me")),
                caughtUp,
            )
            bob.events.next { it == ChatEvent.Presence("alice", true) }

            // Bob's app is killed: the broker publishes his Last Will.
            bob.crash()
            alice2.events.next { it == ChatEvent.Presence("bob", false) }
            alice2.leave()
            alice2.close()
        } finally {
            scope.cancel()
        }
    }
}
