import {expect} from 'chai'
import {join} from 'node:path'

import {UserError} from '../../src/errors.js'
import {defaultRunName, parseRecipe, readRecipeFile, toTrainOptions} from '../../src/training/options.js'
import {expectUserRejection} from '../helpers/assert.js'
import {ROOT} from '../helpers/fixtures.js'

describe('training recipes', () => {
  it('accepts the shipped config.example.json', async () => {
    const recipe = parseRecipe(await readRecipeFile(join(ROOT, 'config.example.json')), 'config.example.json')
    expect(recipe.epochs).to.equal(20)
    expect(recipe['roc-per-class']).to.equal(true)
    const options = toTrainOptions(recipe, {dataDir: 'd', outputDir: 'o'}, new Date('2026-11-22T04:35:12Z'))
    expect(options.classCounts).to.deep.equal({0: 1200, 5: 300, 8: 3500})
    expect(options.runName).to.equal('run-20261122-043512-seed11122025')
  })

  it('fills defaults from the SPEC', () => {
    const recipe = parseRecipe({}, 'flags')
    expect(recipe).to.include({seed: 11_122_025, 'eval-ratio': 0.2, 'val-ratio': 0.15, epochs: 20, 'learning-rate': 1e-3, 'batch-size': 32, 'num-workers': 2, model: 'cnn'})
  })

  it('names the key and the source of a bad value', () => {
    expect(() => parseRecipe({epochs: 25}, 'team.json')).to.throw(UserError, /^team\.json: key "epochs": epochs must be at most 20/)
    expect(() => parseRecipe({'batch-size': 0}, 'flags')).to.throw(UserError, /^--batch-size: /)
    expect(() => parseRecipe({model: 'resnet'}, 'flags')).to.throw(UserError, /^--model: /)
    expect(() => parseRecipe({colour: 'red'}, 'team.json')).to.throw(UserError, /team\.json: key "colour": unknown key \(known: seed, eval-ratio/)
    expect(defaultRunName(7, new Date('2026-01-02T03:04:05Z'))).to.equal('run-20260102-030405-seed7')
  })

  it('explains unreadable and malformed files', async () => {
    await expectUserRejection(readRecipeFile(join(ROOT, 'nope.json')), /--config: cannot read .*nope\.json/)
    await expectUserRejection(readRecipeFile(join(ROOT, 'package-lock.json')).then((v) => parseRecipe(v, 'lock')), /lock: key "name, version, lockfileVersion, requires, packages": unknown key/)
    await expectUserRejection(readRecipeFile(join(ROOT, 'sample.png')), /is not valid JSON/)
  })
})
