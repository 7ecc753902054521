package io.midge.mqtt

import java.io.File
import java.util.concurrent.LinkedBlockingQueue
import java.util.concurrent.TimeUnit
import kotlin.concurrent.thread

/**
 * The shared broker launcher and fault proxy (`tests/src/bin/midge-testkit.rs`),
 * run as a child process: the same program starts the brokers and makes the
 * faults of the Rust, Python and npm suites. One line per command on its
 * stdin and one answer (`ok ...` or `error ...`) on its stdout, plus
 * `stats ...` lines from the proxy whenever a count changes ([onStats]).
 * It stops what it runs when its stdin closes ([close], or this JVM's exit).
 */
class Testkit(vararg args: String, private val onStats: (Map<String, String>) -> Unit = {}) : AutoCloseable {
    private val process: Process
    private val answers = LinkedBlockingQueue<String>()

    /** The fields of its `ready` line (ports by name, `dir`, `log`, `pid`). */
    val ready: Map<String, String>

    init {
        check(EXE.canExecute()) {
            "$EXE is missing: cargo build -p midge-system-tests --bin midge-testkit (the test scripts do)"
        }
        process = ProcessBuilder(EXE.path, *args)
            .redirectError(ProcessBuilder.Redirect.INHERIT)
            .start()
        val lines = process.inputStream.bufferedReader()
        val first = lines.readLine() ?: error("midge-testkit ${args.first()} exited with ${process.waitFor()}")
        check(first.startsWith("ready ")) { "midge-testkit said $first" }
        ready = fields(first.removePrefix("ready "))
        thread(name = "testkit-${args.first()}", isDaemon = true) {
            while (true) {
                val line = lines.readLine() ?: break
                if (line.startsWith("stats ")) onStats(fields(line.removePrefix("stats "))) else answers.put(line)
            }
        }
    }

    /** Send one command and return the answer's words after `ok`; throws on `error`. */
    @Synchronized
    fun command(line: String): List<String> {
        process.outputStream.write("$line\n".toByteArray())
        process.outputStream.flush()
        val answer = answers.poll(60, TimeUnit.SECONDS) ?: error("midge-testkit did not answer $line")
        check(answer == "ok" || answer.startsWith("ok ")) { "midge-testkit: $answer" }
        return answer.split(' ').drop(1)
    }

    /** The next line that is not a `stats` line nor a command's answer (the scripted broker's reports). */
    fun nextLine(timeoutMs: Long = 30_000): String =
        answers.poll(timeoutMs, TimeUnit.MILLISECONDS) ?: error("midge-testkit said nothing for $timeoutMs ms")

    override fun close() {
        runCatching { process.outputStream.close() }
        if (!process.waitFor(10, TimeUnit.SECONDS)) process.destroyForcibly().waitFor()
    }

    companion object {
        val EXE: File = System.getenv("MIDGE_TESTKIT")?.let(::File)
            ?: File(System.getProperty("user.dir"), "../../target/debug/midge-testkit").canonicalFile

        fun fields(words: String): Map<String, String> =
            words.split(' ').filter { it.isNotEmpty() }.associate { it.substringBefore('=') to it.substringAfter('=') }
    }
}
