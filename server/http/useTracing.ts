import { getOperationAST, type OperationDefinitionNode } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { SpanKind, failSpan, inSpan } from '../engine/tracing.js';

/** The name and attributes of an operation's span (`graphql.mutation Dispatch`). */
export function operationSpan(operation: OperationDefinitionNode | null | undefined): { title: string; attributes: Record<string, string> } {
  const type = operation?.operation ?? 'query';
  const name = operation?.name?.value;
  return { title: `graphql.${type}${name ? ` ${name}` : ''}`, attributes: { 'graphql.operation.type': type, ...(name ? { 'graphql.operation.name': name } : {}) } };
}

/**
 * A span for every GraphQL operation (`graphql.mutation Dispatch`), the parent of what its
 * resolvers do (a dispatch, and through the task rows everything the execution runs). No-op
 * unless the application registered an OpenTelemetry SDK.
 */
export function useTracing(): Plugin {
  const spanOf = (document: Parameters<typeof getOperationAST>[0], operationName: string | null | undefined) => operationSpan(getOperationAST(document, operationName));
  return {
    onExecute({ args, executeFn, setExecuteFn }) {
      const { title, attributes } = spanOf(args.document, args.operationName);
      setExecuteFn((executeArgs) =>
        inSpan(title, { kind: SpanKind.SERVER, attributes }, async (span) => {
          const result = await executeFn(executeArgs);
          const errors = (result as { errors?: readonly Error[] }).errors;
          if (errors?.length) failSpan(span, errors[0]);
          return result;
        }),
      );
    },
    onSubscribe({ args, subscribeFn, setSubscribeFn }) {
      const { title, attributes } = spanOf(args.document, args.operationName);
      // The span covers starting the subscription (checks, snapshot setup), not its lifetime.
      setSubscribeFn((subscribeArgs) => inSpan(title, { kind: SpanKind.SERVER, attributes }, async () => subscribeFn(subscribeArgs)));
    },
  };
}
