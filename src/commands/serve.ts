import {Flags} from '@oclif/core'

import {BaseCommand} from '../cli/base-command.js'
import {SERVE_DEFAULTS, startServer} from '../server/server.js'

export default class Serve extends BaseCommand {
  static override description =
    'Serve the web app on one port: draw or upload a digit and see the prediction, browse training runs, train from the page, review the prediction history'

  static override examples = [
    '<%= config.bin %> <%= command.id %> --checkpoint-path runs/my-run/best.ckpt',
    '<%= config.bin %> <%= command.id %> --checkpoint-path runs/ten-digits/best.ckpt --checkpoint-path runs/my-run/best.ckpt',
    '<%= config.bin %> <%= command.id %> --port 0 --data-dir data --runs-dir runs',
    '<%= config.bin %> <%= command.id %> --database-url postgres://user:password@127.0.0.1:5432/digits',
  ]

  static override flags = {
    port: Flags.integer({description: 'port to listen on (0 picks a free one)', default: SERVE_DEFAULTS.port, min: 0, max: 65_535}),
    host: Flags.string({description: 'address to bind; keep 127.0.0.1 unless others must reach it', default: SERVE_DEFAULTS.host}),
    'checkpoint-path': Flags.string({
      description:
        'model to predict with (a best.ckpt); repeat it to serve several side by side, the first answering by default; without it, predictions wait for a run trained from the page',
      multiple: true,
    }),
    'runs-dir': Flags.string({
      description: 'folder of training runs shown on the dashboard, and where runs started from the page go',
      default: SERVE_DEFAULTS.runsDir,
    }),
    'data-dir': Flags.string({
      description: 'folder with the MNIST files for training from the page; also holds the prediction database',
      default: SERVE_DEFAULTS.dataDir,
    }),
    'allowed-host': Flags.string({
      description: 'another host name the server answers to, e.g. the public name of a reverse proxy (repeatable); loopback names and --host always are',
      multiple: true,
    }),
    token: Flags.string({
      description: 'access token the page and API clients must present; generated when --host is not a loopback address',
      env: 'DIGIT_CLASSIFICATION_TOKEN',
    }),
    'allow-private-urls': Flags.boolean({
      description: 'let image URLs point at this machine, private networks and link-local addresses (refused by default)',
      default: false,
    }),
    'database-url': Flags.string({
      description: 'postgres://user:password@host:port/db for a shared PostgreSQL log, or sqlite:FILE (default: DATA_DIR/predictions.sqlite)',
    }),
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(Serve)
    const server = await startServer({
      port: flags.port,
      host: flags.host,
      checkpointPath: flags['checkpoint-path'],
      runsDir: flags['runs-dir'],
      dataDir: flags['data-dir'],
      databaseUrl: flags['database-url'],
      allowedHosts: flags['allowed-host'],
      token: flags.token,
      allowPrivateUrls: flags['allow-private-urls'],
      log: (message) => this.note(message),
    })
    const model = server.model.info
    this.note(model.loaded ? `model ${model.checkpointId} (${model.backend})` : 'no model loaded: predictions answer 503 until one is trained from the page')
    this.note(`predictions logged to ${server.store.kind} (${server.store.location})`)
    this.note(`serving on ${server.openUrl}  (Ctrl-C to stop)`)

    // Serve until Ctrl-C or SIGTERM, then close the connections and the prediction log.
    await this.whileRunning((signal) => new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), {once: true})))
    this.note('stopping')
    await server.close()
  }
}
