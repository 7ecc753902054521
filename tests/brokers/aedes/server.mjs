// The aedes broker for the midge system tests: plain TCP on loopback, on the
// port given (0 = any free one). Prints "listening <port>" once it accepts
// connections, which is what the test waits for.
import net from 'node:net'
import { Aedes } from 'aedes'

const port = Number(process.argv[2] ?? 0)
const aedes = await Aedes.createBroker()
const server = net.createServer(aedes.handle)
server.listen(port, '127.0.0.1', () => {
  console.log(`listening ${server.address().port}`)
})
// The test runner kills us; exit as well when it closes our stdin.
process.stdin.on('end', () => process.exit(0))
process.stdin.resume()
