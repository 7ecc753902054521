// The console front end: `chat <broker url> <user> <room> [session file]`.
// Type a line to say it; `/quit` leaves (presence offline, session kept).
package io.midge.examples.chat

import kotlin.system.exitProcess
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withContext

fun main(args: Array<String>) {
    if (args.size !in 3..4) {
        System.err.println("usage: chat <mqtt://host:port> <user> <room> [session file]")
        exitProcess(2)
    }
    val (url, user, room) = args
    ChatUser(url, user, room, args.getOrNull(3)).use { chat ->
        runBlocking {
            val printer = launch {
                chat.events.collect { event ->
                    when (event) {
                        is ChatEvent.Said -> println("[${event.room}] ${event.from}: ${event.text}")
                        is ChatEvent.Presence -> println("* ${event.user} is ${if (event.online) "online" else "offline"}")
                    }
                }
            }
            chat.start(this)
            println("joined #$room as $user; /quit to leave")
            while (true) {
                val line = withContext(Dispatchers.IO) { readlnOrNull() } ?: break
                if (line == "/quit") break
                if (line.isNotBlank()) chat.say(line)
            }
            chat.leave()
            printer.cancel()
        }
    }
}
