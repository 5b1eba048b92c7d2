import {expect} from 'chai'
import {mkdtempSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {UserError} from '../../src/errors.js'
import {SETTINGS, SETTING_KEYS, type SettingKey, configDocument, defaultRunName, readConfigFile, resolveTrainingConfig} from '../../src/training/config.js'
import {expectUserRejection} from '../helpers/assert.js'
import {ROOT} from '../helpers/fixtures.js'

const NOW = new Date('2026-11-22T04:35:12Z')

describe('training configuration', () => {
  it('accepts the shipped config.example.json', async () => {
    const config = resolveTrainingConfig({file: {values: await readConfigFile(join(ROOT, 'config.example.json')), source: 'config.example.json'}, now: NOW})
    expect(config.epochs).to.equal(20)
    expect(config.roc_per_class).to.equal(true)
    expect(config.class_counts).to.deep.equal({0: 1200, 5: 300, 8: 3500})
    expect(config.run_name).to.equal('run-20261122-043512-seed11122025')
  })

  it('accepts the shipped ten-digit recipe, recipes/digits.json', async () => {
    const config = resolveTrainingConfig({file: {values: await readConfigFile(join(ROOT, 'recipes', 'digits.json')), source: 'recipes/digits.json'}, now: NOW})
    expect(config.classes).to.deep.equal([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    expect(config.class_counts).to.equal('all')
    expect(config).to.include({augment: true, patience: 8, model: 'wide', seed: 11_122_025})
    // It spells out what the plain ten-digit command does.
    expect(config).to.deep.equal(resolveTrainingConfig({flags: {classes: '0-9', 'class-counts': 'all'}, now: NOW}))
  })

  it('accepts the shipped recipe for the SPEC subset, recipes/accurate.json, which keeps the SPEC data', async () => {
    const config = resolveTrainingConfig({
      file: {values: await readConfigFile(join(ROOT, 'recipes', 'accurate.json')), source: 'recipes/accurate.json'},
      now: NOW,
    })
    expect(config).to.include({model: 'wide', loss: 'logit-adjusted', augment: true, patience: 8, selection: 'f1-loss', seed: 11_122_025})
    expect(config.classes).to.deep.equal([0, 5, 8])
    expect(config.class_counts).to.deep.equal({0: 1200, 5: 300, 8: 3500})
  })

  it('fills defaults from the SPEC', () => {
    const config = resolveTrainingConfig({})
    expect(config).to.include({
      seed: 11_122_025,
      eval_ratio: 0.2,
      val_ratio: 0.15,
      epochs: 20,
      learning_rate: 1e-3,
      batch_size: 32,
      num_workers: 2,
      model: 'cnn',
    })
    expect(config.class_counts).to.deep.equal({0: 1200, 5: 300, 8: 3500})
  })

  it('names the key and the source of a bad value', () => {
    const file = (values: Record<string, unknown>) => resolveTrainingConfig({file: {values, source: 'team.json'}})
    expect(() => file({epochs: 25})).to.throw(UserError, /^team\.json: key "epochs": epochs must be at most 20/)
    expect(() => resolveTrainingConfig({flags: {'batch-size': 0}})).to.throw(UserError, /^--batch-size: /)
    expect(() => resolveTrainingConfig({flags: {model: 'resnet'}})).to.throw(UserError, /^--model: /)
    expect(() => file({colour: 'red'})).to.throw(UserError, /team\.json: key "colour": unknown key \(known: seed, eval_ratio/)
    expect(() => file({class_counts: {8: 10, 0: 5, 4: 2}})).to.throw(UserError, /team\.json: key "class_counts": class 4 is not one of the classes 0, 5, 8/)
    expect(() => file({'batch-size': 8, batch_size: 16})).to.throw(UserError, /given twice/)
    expect(defaultRunName(7, new Date('2026-01-02T03:04:05Z'))).to.equal('run-20260102-030405-seed7')
  })

  it('explains unreadable and malformed files', async () => {
    await expectUserRejection(readConfigFile(join(ROOT, 'nope.json')), /--config: cannot read .*nope\.json/)
    await expectUserRejection(
      readConfigFile(join(ROOT, 'package-lock.json')).then((values) => resolveTrainingConfig({file: {values, source: 'lock'}})),
      /lock: key "name, version, lockfileVersion, requires, packages": unknown key/,
    )
    await expectUserRejection(readConfigFile(join(ROOT, 'sample.png')), /is not valid JSON/)
  })

  it('flags win over the file, the file over the checkpoint, the checkpoint over the defaults', () => {
    const checkpoint = configDocument(resolveTrainingConfig({flags: {epochs: 2, 'learning-rate': 0.002, 'run-name': 'saved'}}))
    const config = resolveTrainingConfig({
      checkpoint,
      file: {values: {epochs: 3, 'learning-rate': 0.003}, source: 'team.json'},
      flags: {epochs: 4},
    })
    expect(config).to.include({epochs: 4, learning_rate: 0.003, run_name: 'saved', batch_size: 32})
  })

  it('reads the configuration of checkpoints written before config.json (camelCase keys)', () => {
    const config = resolveTrainingConfig({checkpoint: {seed: 5, learningRate: 0.002, classCounts: {0: 48, 5: 12, 8: 140}, runName: 'old', dataDir: 'x'}})
    expect(config).to.include({seed: 5, learning_rate: 0.002, run_name: 'old'})
    expect(config.class_counts).to.deep.equal({0: 48, 5: 12, 8: 140})
  })

  it('takes any two or more digits as --classes, with counts for exactly those digits or all of their images', () => {
    const two = resolveTrainingConfig({flags: {classes: '8,3', 'class-counts': '3=600,8=600'}, now: NOW})
    expect(two.classes).to.deep.equal([3, 8])
    expect(two.class_counts).to.deep.equal({3: 600, 8: 600})
    const ten = resolveTrainingConfig({flags: {classes: '0-9', 'class-counts': 'all'}, now: NOW})
    expect(ten.classes).to.deep.equal([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    expect(ten.class_counts).to.equal('all')
    expect(configDocument(ten)).to.include({class_counts: 'all'})
    // All ten digits default to the wide network with augmentation and patience 8; what is given wins, and other class sets keep the SPEC's.
    expect(ten).to.include({model: 'wide', augment: true, patience: 8})
    expect(resolveTrainingConfig({flags: {classes: '0-9', model: 'cnn', augment: false, patience: 3}, now: NOW})).to.include({
      model: 'cnn',
      augment: false,
      patience: 3,
    })
    expect(resolveTrainingConfig({file: {values: {classes: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]}, source: 'ten.json'}, now: NOW})).to.include({
      model: 'wide',
      augment: true,
    })
    expect(resolveTrainingConfig({flags: {classes: '3,7'}, now: NOW})).to.include({model: 'cnn', augment: false, patience: 3})
    expect(resolveTrainingConfig({flags: {}, now: NOW})).to.include({model: 'cnn', augment: false, patience: 3})
    // Without counts: the SPEC subset for the default digits, every image of each for others.
    expect(resolveTrainingConfig({flags: {classes: '3,7'}, now: NOW}).class_counts).to.equal('all')
    expect(resolveTrainingConfig({flags: {}, now: NOW})).to.deep.include({classes: [0, 5, 8], class_counts: {0: 1200, 5: 300, 8: 3500}})
    expect(resolveTrainingConfig({file: {values: {classes: [7, 1]}, source: 'team.json'}, now: NOW}).classes).to.deep.equal([1, 7])
    expect(() => resolveTrainingConfig({flags: {classes: '3'}})).to.throw(UserError, /^--classes: give at least 2 digits/)
    expect(() => resolveTrainingConfig({flags: {classes: '3,3'}})).to.throw(UserError, /^--classes: digit 3 is given twice/)
    expect(() => resolveTrainingConfig({flags: {classes: '1-12'}})).to.throw(UserError, /^--classes: "1-12" is not a digit or a range/)
    expect(() => resolveTrainingConfig({flags: {classes: '3,7', 'class-counts': '3=10,8=10'}})).to.throw(
      UserError,
      /^--class-counts: class 8 is not one of the classes 3, 7/,
    )
    // Counts from a file, digits from the command line: the error names the file's key.
    expect(() => resolveTrainingConfig({flags: {classes: '3,7'}, file: {values: {class_counts: {3: 5}}, source: 'team.json'}})).to.throw(
      UserError,
      /^team\.json: key "class_counts": missing class 7/,
    )
  })

  it('round-trips through config.json', () => {
    const config = resolveTrainingConfig({flags: {seed: 9, 'class-counts': '8=140,0=48,5=12', 'roc-per-class': true}, now: NOW})
    const document = configDocument(config)
    expect(document.schema_version).to.equal(1)
    const {schema_version: _, ...settings} = document
    expect(resolveTrainingConfig({file: {values: settings, source: 'config.json'}})).to.deep.equal(config)
  })

  it('reads a config.json that lacks a setting with its default, and refuses other versions', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'config-'))
    const {ema_decay: _, ...lacking} = configDocument(resolveTrainingConfig({flags: {seed: 9, epochs: 3}, now: NOW}))
    writeFileSync(join(dir, 'lacking.json'), JSON.stringify(lacking))
    const config = resolveTrainingConfig({file: {values: await readConfigFile(join(dir, 'lacking.json')), source: 'lacking.json'}})
    expect(config).to.include({seed: 9, epochs: 3, ema_decay: 0})
    writeFileSync(join(dir, 'v9.json'), JSON.stringify({schema_version: 9, seed: 9}))
    await expectUserRejection(readConfigFile(join(dir, 'v9.json')), /v9\.json has schema_version 9; this version reads 1$/)
  })
})

/**
 * `--resume` with each setting given anew: `apply` settings win and are what
 * the resolved configuration (config.json) records; `refuse` settings end in
 * one error line unless they equal the checkpoint's value.
 */
describe('training configuration on --resume', () => {
  const saved = resolveTrainingConfig({flags: {seed: 5, 'class-counts': '8=140,0=48,5=12', epochs: 2, 'run-name': 'saved'}})
  const checkpoint = configDocument(saved)
  /** A value other than the checkpoint's, by flag name, for every setting. */
  const changed: Record<SettingKey, unknown> = {
    seed: 6,
    eval_ratio: 0.25,
    val_ratio: 0.2,
    epochs: 5,
    learning_rate: 0.01,
    batch_size: 8,
    num_workers: 1,
    classes: '0,5,7',
    class_counts: '8=140,0=48,5=11',
    model: 'softmax',
    backend: 'cpu',
    run_name: 'renamed',
    roc_per_class: true,
    learning_rate_trace: true,
    timing_stats: true,
    augment: true,
    selection: 'loss',
    patience: 8,
    calibrate: false,
    ema_decay: 0.99,
    loss: 'logit-adjusted',
    reject: 'other-digits',
  }

  it('has a case for every setting', () => {
    expect(Object.keys(changed).sort()).to.deep.equal([...SETTING_KEYS].sort())
  })

  for (const key of SETTING_KEYS) {
    const flag = key.replaceAll('_', '-')
    const policy = SETTINGS[key].resume
    it(`--${flag}: ${policy === 'apply' ? 'applied and recorded' : 'refused when it differs'}`, () => {
      const resume = (value: unknown) => resolveTrainingConfig({checkpoint, flags: {[flag]: value}})
      if (policy === 'apply') {
        const config = resume(changed[key])
        expect(config[key]).to.deep.equal(resolveTrainingConfig({flags: {[flag]: changed[key]}})[key])
        expect(config[key]).to.not.deep.equal(saved[key])
        expect(configDocument(config)[key]).to.deep.equal(config[key])
      } else {
        expect(() => resume(changed[key])).to.throw(UserError, new RegExp(`^--${flag}: cannot change on --resume \\(last\\.ckpt was trained with [^;]+; .+\\)`))
        // The checkpoint's own value, given again, is no change.
        expect(resume(key === 'class_counts' ? '8=140,0=48,5=12' : saved[key])[key]).to.deep.equal(saved[key])
        // The same rule holds for a --config file.
        expect(() => resolveTrainingConfig({checkpoint, file: {values: {[key]: changed[key]}, source: 'team.json'}})).to.throw(
          UserError,
          /team\.json: key .*cannot change on --resume/,
        )
      }
    })
  }
})
