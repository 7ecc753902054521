import java.io.File;
import java.util.Collections;

import io.moquette.broker.Server;
import io.moquette.broker.config.FileResourceLoader;
import io.moquette.broker.config.ResourceLoaderConfig;

/**
 * moquette for the midge system tests: `MidgeMoquette <moquette.conf>`.
 * Prints `midge-moquette ready` once the listeners are bound; stops the
 * broker on SIGTERM (or when stdin closes, so that no broker outlives a
 * test run that died).
 */
public final class MidgeMoquette {
    public static void main(String[] args) throws Exception {
        if (args.length != 1) {
            System.err.println("usage: MidgeMoquette <moquette.conf>");
            System.exit(2);
        }
        Server server = new Server();
        server.startServer(new ResourceLoaderConfig(new FileResourceLoader(new File(args[0]))),
                Collections.emptyList());
        Runtime.getRuntime().addShutdownHook(new Thread(server::stopServer));
        System.out.println("midge-moquette ready " + Server.MOQUETTE_VERSION);
        System.out.flush();
        // Stdin is the test's pipe: EOF means the test is gone.
        while (System.in.read() >= 0) {
        }
        System.exit(0);
    }
}
