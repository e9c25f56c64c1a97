import _ from 'lodash'
export function processEvent(event) {
    return _.cloneDeep(event)
}
