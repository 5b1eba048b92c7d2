import {expect} from 'chai'
import {spawnSync} from 'node:child_process'
import {existsSync, mkdtempSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {cli} from '../helpers/cli.js'
import {BIN} from '../helpers/fixtures.js'

describe('oclif plugins: did-you-mean and shell completion', function () {
  this.timeout(60_000)

  it('a mistyped command exits 127 naming it; on a terminal it asks about the closest command', async function () {
    const piped = await cli(['evalute', '--data-dir', 'x'])
    expect(piped.code).to.equal(127)
    expect(piped.stderr).to.include('evalute is not a digit-classification command')
    expect(piped.stderr).to.include('digit-classification help')
    expect(piped.stderr).to.not.match(/\n\s+at /)

    // script(1) gives the command a pseudo-terminal; answering "n" declines the suggestion.
    if (!existsSync('/usr/bin/script')) this.skip()
    const tty = spawnSync('/usr/bin/script', ['-qec', `${JSON.stringify(process.execPath)} ${JSON.stringify(BIN)} evalute`, '/dev/null'], {
      input: 'n\n',
      encoding: 'utf8',
      timeout: 30_000,
    })
    const text = tty.stdout.replaceAll(/\u001B\[[0-9;?]*[A-Za-z]/g, '')
    expect(text).to.match(/Did you mean evaluate\?/)
  })

  it('completes commands and their flags in bash', async () => {
    const home = mkdtempSync(join(tmpdir(), 'autocomplete-'))
    const env = {...process.env, HOME: home, XDG_CACHE_HOME: join(home, 'cache')}
    const setup = spawnSync(process.execPath, [BIN, 'autocomplete', 'script', 'bash'], {env, encoding: 'utf8'})
    expect(setup.status).to.equal(0)
    expect(setup.stdout).to.include('DIGIT_CLASSIFICATION_AC_BASH_SETUP_PATH=')
    const refresh = spawnSync(process.execPath, [BIN, 'autocomplete', '--refresh-cache'], {env, encoding: 'utf8'})
    expect(refresh.status, refresh.stderr).to.equal(0)
    const functions = join(home, 'cache', 'digit-classification', 'autocomplete', 'functions', 'bash', 'digit-classification.bash')
    const complete = (...words: string[]) =>
      spawnSync(
        'bash',
        [
          '-c',
          `source "$0"; COMP_WORDS=(${words.join(' ')}); COMP_CWORD=${words.length - 1}; _digit-classification_autocomplete; echo "\${COMPREPLY[@]}"`,
          functions,
        ],
        {
          encoding: 'utf8',
        },
      ).stdout.trim()
    expect(complete('digit-classification', 'tr')).to.equal('train')
    expect(complete('digit-classification', 'train', '--lea').split(' ')).to.deep.equal(['--learning-rate', '--learning-rate-trace'])
    expect(complete('digit-classification', 'evaluate', '--chec')).to.equal('--checkpoint-path')
  })
})
