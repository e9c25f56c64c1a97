// check throws for the event named "boom"; the throw is on line 6.
export function check(name: string): void {
    const padding: number[] = [1, 2, 3]
    void padding
    if (name === 'boom') {
        throw new Error(`boom at line six of ${name.length > 0 ? 'check.ts' : ''}`)
    }
}
