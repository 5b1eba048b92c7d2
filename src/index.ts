export * from './config.js'
export {UserError} from './errors.js'
