// Labels of the console, Chinese first (the default), English on request.
'use strict';
const LABELS = {
  zh: {
    title: '指挥中心 · 一屏统揽', period: '统计周期', today: '今日', d7: '近7天', d30: '近30天', logout: '退出',
    login: '登录', loginHint: '请输入令牌（civicgrid token --role center）。', loginGo: '进入',
    calm: '正常', blue: '蓝', yellow: '黄', orange: '橙（超期）', red: '红（超期督办）',
    track: '查询', live: '实时动态', triage: '待分流', overdue: '超期', escalated: '督办',
    department: '部门', item: '事项（如 01.02）', anyColour: '任意颜色', since: '起始', assignTo: '分派至部门',
    assign: '分派所选', number: '编号', itemCol: '事项', place: '地点', status: '状态', colour: '预警', created: '上报时间',
    open: '在办', closedToday: '今日办结', connected: '已连接', reconnecting: '重连中…',
    closureRate: '结案率', onTimeRate: '按期结案率', reworkRate: '返工率', satisfaction: '满意率',
    mediationRate: '调解成功率', coverage: '巡逻覆盖率', online: '网格员在线率', noData: '暂无',
    deptChart: '部门结案率（在办最多的部门）', assigned: '已分派', failed: '失败', chooseTasks: '请先勾选任务',
    notFound: '未找到', reported: '上报', tasks: '任务',
    levels: { city: '市', county: '县区', township: '乡镇街道', village: '村社区', grid: '网格' },
  },
  en: {
    title: 'Command center · the whole city', period: 'Period', today: 'Today', d7: 'Last 7 days', d30: 'Last 30 days',
    logout: 'Log out', login: 'Log in', loginHint: 'Paste a token (civicgrid token --role center).', loginGo: 'Enter',
    calm: 'calm', blue: 'blue', yellow: 'yellow', orange: 'orange (overdue)', red: 'red (overdue, escalated)',
    track: 'Find', live: 'Live', triage: 'Triage', overdue: 'Overdue', escalated: 'Escalated',
    department: 'department', item: 'item (e.g. 01.02)', anyColour: 'any colour', since: 'since', assignTo: 'assign to department',
    assign: 'Assign selected', number: 'Number', itemCol: 'Item', place: 'Place', status: 'Status', colour: 'Warning',
    created: 'Reported', open: 'open', closedToday: 'closed today', connected: 'connected', reconnecting: 'reconnecting…',
    closureRate: 'Closure rate', onTimeRate: 'On-time closure', reworkRate: 'Rework rate', satisfaction: 'Satisfaction',
    mediationRate: 'Mediation success', coverage: 'Patrol coverage', online: 'Grid workers online', noData: 'n/a',
    deptChart: 'Closure rate of the busiest departments', assigned: 'assigned', failed: 'failed',
    chooseTasks: 'tick some tasks first', notFound: 'not found', reported: 'reported', tasks: 'tasks',
    levels: { city: 'city', county: 'county', township: 'township', village: 'village', grid: 'grid' },
  },
};
const FACTS = {
  zh: {
    'event-reported': '新上报', 'event-rated': '评价', 'task-awaiting-triage': '待分流', 'task-assigned': '已分派',
    'task-signed': '已签收', 'task-returned': '回退', 'task-resolved': '办结反馈', 'task-verified': '复核通过',
    'task-reworked': '返工', 'task-closed': '结案', 'task-reopened': '重新办理', 'task-warning': '预警',
    'task-escalated': '督办', 'task-extension-requested': '申请延期', 'task-extended': '延期', 'task-suspended': '挂账',
    'case-opened': '调解立案', 'case-accepted': '调解受理', 'case-agreement-reached': '调解成功', 'case-failed': '调解失败',
    'case-closed': '调解结案', 'case-escalated': '调解升级', 'checkpoint-checked-in': '巡逻打卡', 'checkpoint-missed': '漏巡',
    'tour-late': '巡逻超时', 'tour-completed': '巡逻完成', 'member-offline': '队员离线', 'member-online': '队员上线',
    'finding-reported': '巡逻发现', 'shift-started': '开始巡逻', 'shift-ended': '结束巡逻',
  },
  en: {},
};
