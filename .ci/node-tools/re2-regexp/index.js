"use strict";
// gitlab-ci-local evaluates `=~` / `!~` in rules with `new RE2(pattern, flags)` and String.prototype.match;
// RegExp takes the same arguments. RE2 guarantees linear time, which a CI configuration written by the
// project itself does not need.
class RE2 extends RegExp {}
module.exports = RE2;
module.exports.default = RE2;
