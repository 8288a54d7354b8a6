import { describe, expect, it } from "@jest/globals";
import { FlagInputError } from "../../../src/flags/actors.js";
import { parseFeatureArgs } from "../../../src/flags/cli-args.js";

describe("parseFeatureArgs", () => {
  it.each([
    [["list"], { kind: "list" }],
    [["help"], { kind: "help" }],
    [["--help"], { kind: "help" }],
    [["get", "manual_retry"], { kind: "get", name: "manual_retry" }],
    [["delete", "manual_retry"], { kind: "delete", name: "manual_retry" }],
    [["set", "manual_retry", "true"], { kind: "set-boolean", name: "manual_retry", enabled: true }],
    [["set", "manual_retry", "FALSE"], { kind: "set-boolean", name: "manual_retry", enabled: false }],
    [["set", "f", "true", "--actor", "GitHub:Octocat", "--actor", "gitlab:42,github:repo:o/n"], { kind: "set-targets", name: "f", enabled: true, actors: ["github:octocat", "gitlab:42", "github:repo:o/n"], groups: [] }],
    [["set", "f", "false", "--group", "staff"], { kind: "set-targets", name: "f", enabled: false, actors: [], groups: ["staff"] }],
    [["set", "f", "50", "--actors"], { kind: "set-percentage", name: "f", gate: "percentage_of_actors", percentage: 50 }],
    [["set", "f", "0.125", "--random"], { kind: "set-percentage", name: "f", gate: "percentage_of_time", percentage: 0.125 }],
    [["set", "f", "100", "--actors"], { kind: "set-percentage", name: "f", gate: "percentage_of_actors", percentage: 100 }],
  ])("%j", (args, expected) => {
    expect(parseFeatureArgs(args)).toEqual(expected);
  });

  it.each([
    [[], /missing command/],
    [["frob"], /unknown command "frob"/],
    [["list", "--frob"], /Unknown option '--frob'/],
    [["list", "extra"], /unexpected argument "extra"/],
    [["list", "--actor", "github:x"], /list takes no options/],
    [["get"], /get needs a flag NAME/],
    [["get", "Bad-Name"], /invalid flag name "Bad-Name"/],
    [["set", "f"], /set needs a value/],
    [["set", "f", "maybe"], /invalid value "maybe"/],
    [["set", "f", "-5", "--actors"], /Unknown option '-5'/],
    [["set", "f", "50"], /a percentage needs --actors .* or --random/],
    [["set", "f", "50", "--actors", "--random"], /choose one of --actors and --random/],
    [["set", "f", "101", "--actors"], /from 0 to 100/],
    [["set", "f", "1.2345", "--actors"], /at most three decimals/],
    [["set", "f", "50", "--actors", "--actor", "github:x"], /cannot be combined with --actor or --group/],
    [["set", "f", "true", "--random"], /--actors and --random go with a percentage/],
    [["set", "f", "true", "--actor", "octocat"], /invalid actor "octocat"/],
    [["set", "f", "true", "--actor", ","], /--actor and --group need a value/],
    [["set", "f", "true", "--group", "Not A Group"], /invalid group name/],
    [["set", "f", "true", "--actor"], /argument missing/],
  ])("rejects %j", (args, message) => {
    expect(() => parseFeatureArgs(args)).toThrow(FlagInputError);
    expect(() => parseFeatureArgs(args)).toThrow(message);
  });
});
