import {expect} from 'chai'

describe('the package as users import it', () => {
  it('exports the artifact schemas and the library by its own name', async () => {
    // Resolved through package.json "exports", as `import ... from 'digit-classification'` in a user's project.
    const lib = await import('digit-classification')
    expect(Object.keys(lib.schemas)).to.include.members(['metrics', 'predictions', 'lossCurves', 'runMetadata', 'rocCurves', 'trainingDynamics', 'timingStats'])
    expect(lib.DEFAULT_CLASSES).to.deep.equal([0, 5, 8])
    expect(typeof lib.runTraining).to.equal('function')
    expect(typeof lib.runEvaluation).to.equal('function')
    expect(typeof lib.loadPredictor).to.equal('function')
    expect(lib.schemas.metrics.safeParse({}).success).to.equal(false)
  })
})
