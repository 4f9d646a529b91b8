//! The console speaks zh-CN by default and English on request. Every text
//! on a page is looked up here by key; a test checks that each key used in
//! a template has both languages.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Zh,
    En,
}

impl Lang {
    pub fn from_cookie(v: Option<&str>) -> Lang {
        match v {
            Some("en") => Lang::En,
            _ => Lang::Zh,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Lang::Zh => "zh",
            Lang::En => "en",
        }
    }
}

/// The translator handed to templates.
#[derive(Debug, Clone, Copy)]
pub struct Tr(pub Lang);

impl Tr {
    /// The text for `key`; the key itself when it is missing, so a gap shows
    /// on screen instead of failing the page.
    pub fn s<'a>(&self, key: &'a str) -> &'a str {
        match TEXTS.iter().find(|(k, _, _)| *k == key) {
            Some((_, zh, en)) => match self.0 {
                Lang::Zh => zh,
                Lang::En => en,
            },
            None => key,
        }
    }

    pub fn html_lang(&self) -> &'static str {
        match self.0 {
            Lang::Zh => "zh-CN",
            Lang::En => "en",
        }
    }

    pub fn other_code(&self) -> &'static str {
        match self.0 {
            Lang::Zh => "en",
            Lang::En => "zh",
        }
    }

    pub fn other_name(&self) -> &'static str {
        match self.0 {
            Lang::Zh => "English",
            Lang::En => "中文",
        }
    }
}

/// (key, zh-CN, English)
const TEXTS: &[(&str, &str, &str)] = &[
    ("tagline", "私域增长引擎", "Private-domain growth engine"),
    ("sign_in", "登录", "Sign in"),
    ("logout", "退出", "Sign out"),
    ("username", "用户名", "Username"),
    ("password", "密码", "Password"),
    ("bad_credentials", "用户名或密码错误", "Wrong username or password"),
    ("internal_error", "系统出错了，已记录", "Something went wrong; it has been logged"),
    ("navigation", "导航", "Navigation"),
    ("home", "概览", "Overview"),
    ("stores", "门店", "Stores"),
    ("staff", "员工", "Staff"),
    ("channel_codes", "渠道活码", "Channel codes"),
    ("customers", "客户", "Customers"),
    ("tags", "标签", "Tags"),
    ("groups", "客户群", "Groups"),
    ("campaigns", "裂变活动", "Campaigns"),
    ("mass_sends", "群发", "Mass sends"),
    ("sops", "SOP", "SOPs"),
    ("analytics", "数据看板", "Analytics"),
    ("users", "账号", "Users"),
    ("api_keys", "API 密钥", "API keys"),
    ("jobs", "后台任务", "Jobs"),
    ("settings", "企业设置", "Settings"),
    ("coming_soon", "即将推出", "Coming soon"),
    ("soon", "即将", "soon"),
    ("error", "出错了", "Error"),
    ("too_many_attempts", "失败次数过多，请 15 分钟后再试", "Too many failed sign-ins; try again in 15 minutes"),
    ("cross_site", "请从 koi 的登录页登录", "Sign in from koi's own sign-in page"),
    ("owner", "品牌管理员", "Owner"),
    ("hq_operator", "总部运营", "HQ operator"),
    ("store_manager", "店长", "Store manager"),
    ("guide", "导购", "Guide"),
    ("dead_letters", "失败任务", "Dead letters"),
    ("loop_title", "私域运营五步", "The five steps of private-domain growth"),
    ("stage_new", "引流", "Attract"),
    ("stage_new_hint", "门店海报、包裹卡、广告上的渠道活码把公域流量引进来。", "Channel codes on store posters, package cards and ads bring traffic in."),
    ("stage_stored", "蓄水", "Store"),
    ("stage_stored_hint", "加好友、打标签、进社群，客户成为品牌自己的。", "Friends, tags and groups make customers the brand's own."),
    ("stage_active", "活水", "Activate"),
    ("stage_active_hint", "互动、投票、抽奖让社群活起来。", "Polls, lotteries and chat keep the pool alive."),
    ("stage_converted", "养鱼", "Convert"),
    ("stage_converted_hint", "首单与复购。", "First orders and repurchases."),
    ("stage_super", "养大鱼", "Grow"),
    ("stage_super_hint", "超级用户带来新朋友（裂变）。", "Super users bring their friends (fission)."),
    ("loop_note", "门店、员工、渠道活码与客户已就绪；标签、社群与活动模块将陆续上线。", "Stores, staff, channel codes and customers are ready; tags, groups and campaigns come next."),
    ("code", "编码", "Code"),
    ("name", "名称", "Name"),
    ("region", "区域", "Region"),
    ("kind", "类型", "Type"),
    ("address", "地址", "Address"),
    ("location", "坐标", "Location"),
    ("lat", "纬度", "Latitude"),
    ("lng", "经度", "Longitude"),
    ("edit", "编辑", "Edit"),
    ("save", "保存", "Save"),
    ("cancel", "取消", "Cancel"),
    ("create", "创建", "Create"),
    ("no_stores", "还没有门店。新建一个，或导入表格。", "No stores yet. Create one or import a spreadsheet."),
    ("new_store", "新建门店", "New store"),
    ("edit_store", "编辑门店", "Edit store"),
    ("import_csv", "导入 CSV", "Import CSV"),
    ("import", "导入", "Import"),
    ("download_template", "下载模板", "Download template"),
    ("store_csv_hint", "列：code, name, address, lat, lng, region, kind（也可用中文表头）。已有编码会被更新；任一行出错则整表不导入。", "Columns: code, name, address, lat, lng, region, kind (Chinese headers work too). Known codes are updated; one bad row and nothing is imported."),
    ("staff_csv_hint", "列：userid, name, mobile, stores（门店编码，用 ; 分隔）, active。已有 userid 会被更新；任一行出错则整表不导入。", "Columns: userid, name, mobile, stores (store codes separated by ;), active. Known userids are updated; one bad row and nothing is imported."),
    ("import_done", "导入完成", "Import finished"),
    ("import_rejected", "表格有错误，未导入任何数据：", "The file has errors; nothing was imported:"),
    ("created", "新增", "Created"),
    ("updated", "更新", "Updated"),
    ("line", "行", "Line"),
    ("field", "字段", "Field"),
    ("problem", "问题", "Problem"),
    ("userid", "企业微信账号", "WeCom userid"),
    ("mobile", "手机号", "Mobile"),
    ("status", "状态", "Status"),
    ("active", "在职", "Active"),
    ("inactive", "停用", "Inactive"),
    ("no_staff", "还没有员工。", "No staff yet."),
    ("new_staff", "新增员工", "New staff member"),
    ("edit_staff", "编辑员工", "Edit staff member"),
    ("display_name", "显示名", "Display name"),
    ("role", "角色", "Role"),
    ("new_user", "新建账号", "New user"),
    ("stores_for_managers", "所管门店（店长必选）", "Stores (required for store managers)"),
    ("activate", "启用", "Activate"),
    ("deactivate", "停用", "Deactivate"),
    ("key_once", "请立即复制此密钥，它只显示这一次：", "Copy this key now; it is shown only once:"),
    ("prefix", "前缀", "Prefix"),
    ("last_used", "最近使用", "Last used"),
    ("revoked", "已吊销", "Revoked"),
    ("revoke", "吊销", "Revoke"),
    ("confirm_revoke", "吊销后使用此密钥的集成将立即失效，确定吗？", "Integrations using this key stop working at once. Revoke it?"),
    ("no_keys", "还没有 API 密钥。", "No API keys yet."),
    ("create_key", "创建密钥", "Create key"),
    ("key_hint", "在请求头中使用 Authorization: Bearer <密钥>。接口文档：", "Send it as Authorization: Bearer <key>. API reference:"),
    ("all", "全部", "All"),
    ("queued", "排队中", "Queued"),
    ("running", "执行中", "Running"),
    ("done", "已完成", "Done"),
    ("dead", "失败", "Dead"),
    ("attempts", "尝试次数", "Attempts"),
    ("run_at", "计划时间", "Run at"),
    ("last_error", "最近错误", "Last error"),
    ("retry", "重试", "Retry"),
    ("no_jobs", "没有任务。", "No jobs."),
    ("selftest_hint", "提交一个自检任务，确认后台任务正常运行。", "Queue a self-test job to check that background work runs."),
    ("selftest", "运行自检", "Run self-test"),
    ("selftest_fail", "模拟失败", "Simulate a failure"),
    ("brand_name", "品牌名称", "Brand name"),
    ("callback_url", "回调地址", "Callback URL"),
    ("callback_hint", "在企业微信管理后台「客户联系 → API → 接收事件服务器」填写此地址及下方的 Token 和 EncodingAESKey。", "Enter this URL, the Token and the EncodingAESKey below in the WeCom admin console under Customer Contact → API → event server."),
    ("secret_hint", "密钥只显示首尾几位；留空则保持不变。", "Secrets show only their ends; leave a field empty to keep it."),
    ("edit_code", "编辑渠道活码", "Edit channel code"),
    ("edit_code_hint", "保存后企业微信「联系我」会同步更新：接待员工、验证方式、备注；已印刷的二维码不变。", "Saving updates the WeCom contact way (members, verification, remark); printed QR codes stay valid."),
    ("landing_visits", "落地页访问", "Landing visits"),
    ("welcome_ab", "欢迎语 A/B 效果", "Welcome variants (A/B)"),
    ("variant", "版本", "Variant"),
    ("welcome_text", "欢迎语", "Welcome"),
    ("welcomes_sent", "已发送", "Sent"),
    ("retained", "留存率", "Retained"),
    ("deactivate_code", "停用此码（删除企业微信联系我）", "Switch this code off (deletes the WeCom contact way)"),
    ("confirm_deactivate_code", "停用后，已印刷的二维码将无法再添加客户，确定吗？", "Printed QR codes stop adding customers. Switch off?"),
    ("flash_created", "已创建", "Created"),
    ("flash_saved", "已保存", "Saved"),
    ("flash_revoked", "已吊销", "Revoked"),
    ("flash_retried", "已重新排队", "Queued again"),
    ("flash_queued", "已提交", "Queued"),
    ("channel_type", "渠道类型", "Channel"),
    ("store", "门店", "Store"),
    ("staff_pool", "接待员工", "Staff pool"),
    ("created_at", "创建时间", "Created"),
    ("adds", "添加", "Adds"),
    ("net_adds", "净增", "Net adds"),
    ("details", "详情", "Details"),
    ("no_codes", "还没有渠道活码。新建一个，贴到门店海报或包裹卡上。", "No channel codes yet. Create one for a store poster or a package card."),
    ("new_code", "新建渠道活码", "New channel code"),
    ("routing", "分配方式", "Routing"),
    ("wecom_random", "企业微信随机", "WeCom random"),
    ("round_robin", "轮流分配", "Round robin"),
    ("daily_cap", "每日上限", "Daily cap"),
    ("working_hours", "按上班时间", "Working hours"),
    ("nearest_store", "就近门店", "Nearest store"),
    ("backup", "备用", "Backup"),
    ("hours_start", "上班时间", "Hours from"),
    ("hours_end", "下班时间", "Hours to"),
    ("radius_m", "就近半径（米）", "Radius (m)"),
    ("auto_tags", "自动标签 ID（逗号分隔）", "Auto-tag ids (comma separated)"),
    ("welcome", "欢迎语", "Welcome"),
    ("welcome_a", "欢迎语 A", "Welcome A"),
    ("welcome_b", "欢迎语 B（可选，A/B 测试）", "Welcome B (optional, A/B test)"),
    ("welcome_placeholder", "{客户昵称}您好，我是{门店}的{导购}～", "Hi {客户昵称}, I'm {导购} from {门店}!"),
    ("weight", "权重", "Weight"),
    ("expires_on", "有效期至", "Valid until"),
    ("remark", "备注", "Remark"),
    ("skip_verify", "无需验证直接添加", "Add without verification"),
    ("code_form_hint", "每日上限和上班时间用于对应的分配方式，作用于非备用员工；就近门店以所选门店为兜底。欢迎语可用 {客户昵称} {导购} {门店}。", "Daily cap and hours apply to non-backup staff under those routings; nearest store falls back to the chosen store. Welcomes may use {客户昵称} {导购} {门店}."),
    ("store_poster", "门店海报", "Store poster"),
    ("no_qr", "企业微信尚未生成二维码。", "WeCom has not issued a QR code yet."),
    ("state", "渠道参数", "State"),
    ("last_30_days", "近 30 天", "Last 30 days"),
    ("new_customers", "新客户", "New customers"),
    ("new_customer", "新客户", "New"),
    ("returning", "回流客户", "Returning"),
    ("deletions", "流失", "Deletions"),
    ("day", "日期", "Day"),
    ("no_adds_yet", "近 30 天还没有客户通过此码添加。", "No adds through this code in the last 30 days."),
    ("customers_of_code", "查看此码带来的客户", "Customers from this code"),
    ("print_hint", "使用浏览器打印（A4 或保存为 PDF）。", "Print from the browser (A4, or save as PDF)."),
    ("poster_cta", "扫码添加导购，领取新客专属福利", "Scan to add your shopping guide and get a welcome gift"),
    ("poster_sub", "微信扫一扫 · 长按识别", "Scan or long-press in WeChat"),
    ("channel_code", "渠道活码", "Channel code"),
    ("new_or_returning", "新客 / 回流", "New / returning"),
    ("lost_only", "只看流失", "Lost only"),
    ("filter", "筛选", "Filter"),
    ("added_at", "添加时间", "Added"),
    ("lost", "已流失", "Lost"),
    ("no_customers", "没有符合条件的客户。", "No customers match."),
    ("previous", "上一页", "Previous"),
    ("next", "下一页", "Next"),
    ("page", "第", "Page"),
    ("customer", "客户", "Customer"),
    ("transfer", "转接", "Handover"),
    ("wecom_user", "企业微信用户", "WeCom user"),
    ("wechat_user", "微信用户", "WeChat user"),
    ("follows", "好友关系", "Follows"),
    ("since", "添加于", "Since"),
    ("deleted_by", "删除方", "Deleted by"),
    ("timeline", "事件时间线", "Timeline"),
    ("no_events", "暂无事件。", "No events yet."),
];

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    /// Every `t.s("key")` in a template, and every key the code passes in,
    /// must have a text in both languages.
    #[test]
    fn every_key_used_is_translated() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/templates");
        let mut used = HashSet::new();
        for entry in std::fs::read_dir(dir).expect("templates dir") {
            let text = std::fs::read_to_string(entry.expect("entry").path()).expect("template");
            for part in text.split("t.s(\"").skip(1) {
                used.insert(part.split('"').next().expect("key").to_string());
            }
        }
        let dynamic = [
            "owner",
            "hq_operator",
            "store_manager",
            "guide",
            "queued",
            "running",
            "done",
            "dead",
            "home",
            "stores",
            "staff",
            "channel_codes",
            "customers",
            "tags",
            "groups",
            "campaigns",
            "mass_sends",
            "sops",
            "analytics",
            "users",
            "api_keys",
            "jobs",
            "settings",
            "bad_credentials",
            "internal_error",
            "flash_created",
            "flash_saved",
            "flash_revoked",
            "flash_retried",
            "flash_queued",
            "error",
            "wecom_random",
            "round_robin",
            "daily_cap",
            "working_hours",
            "nearest_store",
            "customer",
            "transfer",
        ];
        used.extend(dynamic.iter().map(|s| s.to_string()));
        let known: HashSet<_> = TEXTS.iter().map(|(k, _, _)| k.to_string()).collect();
        let missing: Vec<_> = used.difference(&known).collect();
        assert!(missing.is_empty(), "untranslated keys: {missing:?}");
        assert_eq!(known.len(), TEXTS.len(), "a key is listed twice");
        for (k, zh, en) in TEXTS {
            assert!(!zh.is_empty() && !en.is_empty(), "{k} lacks a language");
        }
    }

    #[test]
    fn chinese_is_the_default() {
        assert_eq!(Lang::from_cookie(None), Lang::Zh);
        assert_eq!(Tr(Lang::from_cookie(Some("en"))).s("stores"), "Stores");
        assert_eq!(Tr(Lang::Zh).s("stores"), "门店");
    }
}
