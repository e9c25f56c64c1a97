export const suffix = '+relative';
