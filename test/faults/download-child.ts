/**
 * The downloader in a process of its own, for the kill tests: fetches the files
 * listed in argv[3] (JSON) from the mirror argv[4] into argv[2]. The CLI always
 * asks for the official MNIST sums; this is the same library call with files a
 * local test server can serve.
 */
import {downloadMnist} from '../../src/data/download.js'

const [dataDir, files, mirror] = process.argv.slice(2)
await downloadMnist({dataDir, files: JSON.parse(files), mirrors: [mirror], source: 'mirrors', retries: 0})
process.stdout.write('done\n')
